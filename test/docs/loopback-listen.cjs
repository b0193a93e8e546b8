// Preloaded (`node --require`) into each README snippet the docs suite runs: every TCP
// server the snippet starts listens on 127.0.0.1, on a free port, whatever port and host
// it asked for (a README says `listen(3000)`; the suite must neither use a port another
// process holds nor open one beyond loopback). Each port is reported on stdout as a line
// `tierlimit-snippet-listening <port>`. Listens on a path or a handle are left alone.
const net = require('node:net');

const listen = net.Server.prototype.listen;

/** Whether listen() was asked for a TCP port: a port number, `{ port }`, or nothing at all. */
function isTcp(args) {
  const first = args[0];
  if (first === undefined || typeof first === 'function') return true;
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) return true;
  return typeof first === 'object' && first !== null && first.path === undefined && first.handle === undefined;
}

net.Server.prototype.listen = function loopbackListen(...args) {
  if (!isTcp(args)) return listen.apply(this, args);
  const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
  this.once('listening', () => {
    const address = this.address();
    if (address !== null && typeof address === 'object') {
      process.stdout.write(`\ntierlimit-snippet-listening ${address.port}\n`);
    }
  });
  const options = { port: 0, host: '127.0.0.1' };
  return callback ? listen.call(this, options, callback) : listen.call(this, options);
};
