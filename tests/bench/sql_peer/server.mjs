// The peer of tests/bench/sql: a Feathers 5 app (Express REST) whose `people` and `bulk` services
// are @feathersjs/knex on the database the driver made (SQLite through better-sqlite3, or pg).
// Usage: node server.mjs PORT URL   (URL: sqlite:PATH or postgresql://user@host:port/db)
import { feathers } from '@feathersjs/feathers'
import express, { rest, json, errorHandler } from '@feathersjs/express'
import { KnexService } from '@feathersjs/knex'
import knex from 'knex'

const [port, url] = process.argv.slice(2)
const pool = Number(process.env.POOL || 4) // fdnode's postgres pool has 4 connections by default
const db = url.startsWith('sqlite:')
  ? knex({
    client: 'better-sqlite3',
    connection: { filename: url.slice('sqlite:'.length) },
    useNullAsDefault: true,
    pool: { afterCreate: (conn, done) => { conn.pragma('journal_mode = WAL'); done() } }
  })
  : knex({ client: 'pg', connection: url, pool: { min: 1, max: pool } })

const app = express(feathers())
app.use(json({ limit: '16mb' })) // the bulk create sends 10,000 records in one body
app.configure(rest())
const paginate = { default: 10, max: 50 }
app.use('people', new KnexService({ Model: db, name: 'people', paginate, multi: true }))
app.use('bulk', new KnexService({ Model: db, name: 'bulk', paginate, multi: true }))
app.use(errorHandler({ logger: false }))

app.listen(Number(port || 3030))
