// An application using node-postgres (npm pg) with a connection string as it receives it.
//
// Usage: node pg_client.mjs SOURCE WORKLOAD
//   SOURCE    file:PATH (a key of the mounted Secret) or env:NAME (an environment variable), used as is;
//             none: no connection string, node-postgres reads PGHOST, PGUSER, ... (and PGSSLMODE)
//   WORKLOAD  identity: one connection, who and where it is;
//             prepared: three connections taking turns, 8 executions each of one named query (node-postgres
//                       prepares a named query on a connection once: a server-side prepared statement);
//             prepared-workaround: the same query unnamed, for a transaction pool whose pgBouncer does not
//                       track prepared statements.
// Prints one JSON object; on failure the error on stderr and exit status 1.
import fs from 'node:fs'
import pg from 'pg'

const IDENTITY =
  'SELECT current_user AS user, current_database() AS database, ' +
  'coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS server_ssl'

function connectionString(source) {
  if (source === 'none') return undefined
  const at = source.indexOf(':')
  const [kind, name] = [source.slice(0, at), source.slice(at + 1)]
  return kind === 'file' ? fs.readFileSync(name, 'utf8') : process.env[name]
}

async function main(source, workload) {
  const config = { connectionString: connectionString(source), connectionTimeoutMillis: 10000 }
  if (workload === 'identity') {
    const client = new pg.Client(config)
    await client.connect()
    try {
      const row = (await client.query(IDENTITY)).rows[0]
      return { ...row, client_ssl: Boolean(client.connection.stream.encrypted) }
    } finally {
      await client.end()
    }
  }
  const clients = [0, 1, 2].map(() => new pg.Client(config))
  for (const client of clients) await client.connect()
  try {
    let executions = 0
    for (let n = 0; n < 8; n++) {
      for (const [i, client] of clients.entries()) {
        const values = [n * 10 + i]
        const text = 'SELECT $1::int * 2 AS v'
        const query = workload === 'prepared-workaround' ? { text, values } : { name: 'double', text, values }
        const { rows } = await client.query(query)
        if (rows[0].v !== values[0] * 2) throw new Error(`wrong result ${JSON.stringify(rows)}`)
        executions++
      }
    }
    return { executions, named: workload !== 'prepared-workaround' }
  } finally {
    for (const client of clients) await client.end().catch(() => {})
  }
}

try {
  console.log(JSON.stringify(await main(process.argv[2], process.argv[3])))
} catch (error) {
  console.error(`${error.name}: ${error.message}`)
  process.exit(1)
}
