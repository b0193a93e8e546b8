// The older framework majors are installed under aliases (express4, koa2, fastify4) so
// the conformance suite runs against them in the same process as the newest majors.
declare module 'express4' {
  import express = require('express');
  export = express;
}
declare module 'koa2' {
  import Koa = require('koa');
  export = Koa;
}
