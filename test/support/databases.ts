/**
 * The PostgreSQL and MariaDB servers these machines run (127.0.0.1:5432 trust auth,
 * database `test`; 127.0.0.1:3306 root without password). Suites that need one skip with
 * a message when it is not reachable on a developer's machine; under CI a missing
 * database fails the run instead (.ci/run starts or installs them).
 */
import mysql from 'mysql2';
import pg from 'pg';

export async function postgresPool(): Promise<pg.Pool | undefined> {
  const pool = new pg.Pool({
    host: '127.0.0.1',
    port: 5432,
    user: 'postgres',
    database: 'test',
    max: 10,
    connectionTimeoutMillis: 2_000,
  });
  try {
    await pool.query('SELECT 1');
    return pool;
  } catch (error) {
    await pool.end().catch(() => undefined);
    return unavailable('PostgreSQL on 127.0.0.1:5432 (database test)', error);
  }
}

export async function mariadbPool(): Promise<mysql.Pool | undefined> {
  const pool = mysql.createPool({
    host: '127.0.0.1',
    port: 3306,
    user: 'root',
    database: 'test',
    connectionLimit: 10,
    connectTimeout: 2_000,
  });
  try {
    await pool.promise().query('SELECT 1');
    return pool;
  } catch (error) {
    await pool
      .promise()
      .end()
      .catch(() => undefined);
    return unavailable('MariaDB on 127.0.0.1:3306 (root, database test)', error);
  }
}

function unavailable(what: string, error: unknown): undefined {
  const message = `${what} is not reachable: ${(error as Error).message}`;
  if (process.env.CI) throw new Error(`${message}. CI must run the database tests.`);
  console.warn(`skipping database tests: ${message}`);
  return undefined;
}
