// socket_client.js: drives socket.io-client 4 (raw emits) and @feathersjs/socketio-client 5
// against a server speaking Feathers' socket protocol, one scenario at a time.
// usage: node socket_client.js URL [SCENARIO,...|all] [TRANSPORT,...|all] [CLIENT,...|all]
'use strict'
const { io } = require('socket.io-client')
const { feathers } = require('@feathersjs/feathers')
const socketio = require('@feathersjs/socketio-client')
const errors = require('@feathersjs/errors')
const assert = require('node:assert/strict')

const TRANSPORTS = {
  websocket: { transports: ['websocket'] }, // websocket from the start
  polling: {}, // the default: polling first, then the upgrade to websocket
  'polling-only': { transports: ['polling'] } // every packet over HTTP long-polling
}
const METHODS = ['find', 'get', 'create', 'update', 'patch', 'remove', 'stats', 'slow']
const TIMEOUT = 5000
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const tag = () => 't' + Math.random().toString(36).slice(2, 10)

// One connected client of either kind, with the same small API: call(method, path,
// ...args) resolves to the result or rejects with the error; on(path, event, fn).
async function connect (url, transport, kind) {
  const socket = io(url, { ...TRANSPORTS[transport], reconnection: false, timeout: TIMEOUT })
  let first // the transport of the Engine.IO handshake
  const upgraded = new Promise((resolve) => socket.io.on('open', () => {
    first = socket.io.engine.transport.name
    socket.io.engine.on('upgrade', resolve)
  }))
  await new Promise((resolve, reject) => {
    socket.on('connect', resolve)
    socket.on('connect_error', reject)
  })
  const client = { socket, kind, transport, first, upgraded, close: () => socket.close() }
  if (kind === 'raw') {
    client.call = (method, path, ...args) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ack for ${method} ${path} in ${TIMEOUT} ms`)), TIMEOUT)
      socket.emit(method, path, ...args, (err, res) => {
        clearTimeout(timer)
        if (err) reject(err)
        else resolve(res)
      })
    })
    client.on = (path, event, fn) => socket.on(`${path} ${event}`, fn)
  } else {
    const app = feathers()
    const connection = socketio(socket, { timeout: TIMEOUT })
    app.configure(connection)
    for (const path of ['messages', 'rooms', 'nope']) app.use(path, connection.service(path), { methods: METHODS })
    // the Feathers client's own signatures: find(params), get(id, params), create(data, params),
    // update/patch(id, data, params), remove(id, params), custom(data, params)
    client.call = (method, path, ...args) => {
      const service = app.service(path)
      const query = args.pop()
      return service[method](...args, { query })
    }
    client.on = (path, event, fn) => app.service(path).on(event, fn)
  }
  return client
}

// An event listener that records what it heard, and waits for a match.
function listen (client, path, event) {
  const heard = []
  const waiters = []
  client.on(path, event, (data) => {
    heard.push(data)
    for (const w of waiters.splice(0)) if (!w(data)) waiters.push(w)
  })
  heard.wait = (pred, ms = 2000) => new Promise((resolve, reject) => {
    const found = heard.find(pred)
    if (found) return resolve(found)
    const timer = setTimeout(() => reject(new Error(`no "${path} ${event}" matching in ${ms} ms (heard ${JSON.stringify(heard)})`)), ms)
    waiters.push((data) => {
      if (!pred(data)) return false
      clearTimeout(timer)
      resolve(data)
      return true
    })
  })
  return heard
}

async function rejects (promise) {
  try {
    const r = await promise
    throw new assert.AssertionError({ message: `expected an error, got ${JSON.stringify(r)}` })
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e
    return e
  }
}

// The error's fields as the client sees them (raw: the ack's plain object).
function errorFields (e) {
  const f = { name: e.name, code: e.code, className: e.className, message: e.message }
  if (e.data !== undefined) f.data = e.data
  return f
}

const scenarios = {
  async crud (url, transport, kind) {
    const c = await connect(url, transport, kind)
    const t = tag()
    const out = {}
    try {
      const made = []
      for (let n = 0; n < 3; n++) made.push(await c.call('create', 'messages', { text: `m${n}`, tag: t, n }, {}))
      assert.deepEqual(made.map((m) => [m.text, m.tag, m.n, typeof m.id]),
        [['m0', t, 0, 'number'], ['m1', t, 1, 'number'], ['m2', t, 2, 'number']])
      const page = await c.call('find', 'messages', { tag: t, $sort: { n: 1 }, $limit: 2 })
      assert.deepEqual(page, { total: 3, limit: 2, skip: 0, data: made.slice(0, 2) })
      const rest = await c.call('find', 'messages', { tag: t, $sort: { n: 1 }, $limit: 2, $skip: 2 })
      assert.deepEqual(rest, { total: 3, limit: 2, skip: 2, data: made.slice(2) })
      const sel = await c.call('find', 'messages', { tag: t, n: { $gte: 1 }, $sort: { n: -1 }, $select: ['n'] })
      assert.deepEqual(sel.data, [{ id: made[2].id, n: 2 }, { id: made[1].id, n: 1 }])
      assert.deepEqual(await c.call('get', 'messages', made[0].id, {}), made[0])
      const id = made[0].id
      assert.deepEqual(await c.call('update', 'messages', id, { text: 'u', tag: t, n: 0 }, {}), { id, text: 'u', tag: t, n: 0 })
      assert.deepEqual(await c.call('patch', 'messages', id, { extra: true }, {}), { id, text: 'u', tag: t, n: 0, extra: true })
      assert.deepEqual(await c.call('remove', 'messages', id, {}), { id, text: 'u', tag: t, n: 0, extra: true })
      const many = await c.call('create', 'messages', [{ text: 'a', tag: t, n: 3 }, { text: 'b', tag: t, n: 4 }], {})
      assert.deepEqual(many.map((m) => m.text), ['a', 'b'])
      const patched = await c.call('patch', 'messages', null, { flag: 1 }, { tag: t })
      assert.deepEqual(patched.map((m) => [m.n, m.flag]).sort(), [[1, 1], [2, 1], [3, 1], [4, 1]])
      const removed = await c.call('remove', 'messages', null, { tag: t })
      assert.equal(removed.length, 4)
      assert.equal((await c.call('find', 'messages', { tag: t })).total, 0)
      out.page = page
      out.first = c.first
      if (transport === 'polling') {
        // the default client starts on polling and upgrades to websocket
        assert.equal(c.first, 'polling')
        await Promise.race([c.upgraded, sleep(3000)])
        assert.equal(c.socket.io.engine.transport.name, 'websocket', 'upgraded to websocket')
      } else {
        assert.equal(c.first, transport === 'websocket' ? 'websocket' : 'polling')
      }
      out.last = c.socket.io.engine.transport.name
      return out
    } finally { c.close() }
  },

  async errors (url, transport, kind) {
    const c = await connect(url, transport, kind)
    const out = {}
    try {
      const nf = await rejects(c.call('get', 'messages', 987654, {}))
      out.notFound = errorFields(nf)
      assert.deepEqual(out.notFound, { name: 'NotFound', code: 404, className: 'not-found', message: "No record found for id '987654'" })
      const br = await rejects(c.call('create', 'messages', { text: 'x', bad: true }, {}))
      out.badRequest = errorFields(br)
      assert.deepEqual(out.badRequest, { name: 'BadRequest', code: 400, className: 'bad-request', message: 'bad message', data: { field: 'bad' } })
      const ns = await rejects(c.call('find', 'nope', {}))
      out.noService = errorFields(ns)
      assert.deepEqual(out.noService, { name: 'NotFound', code: 404, className: 'not-found', message: "Service 'nope' not found" })
      const na = await rejects(c.call('update', 'rooms', 'x', {}, {}))
      out.notAllowed = errorFields(na)
      assert.deepEqual(out.notAllowed, { name: 'MethodNotAllowed', code: 405, className: 'method-not-allowed', message: "Method 'update' not allowed on service 'rooms'" })
      if (kind === 'feathers') {
        assert.ok(nf instanceof errors.NotFound, 'NotFound is an instance of errors.NotFound')
        assert.ok(br instanceof errors.BadRequest, 'BadRequest is an instance of errors.BadRequest')
        assert.ok(br instanceof errors.FeathersError, 'and of errors.FeathersError')
        assert.ok(na instanceof errors.MethodNotAllowed, 'MethodNotAllowed keeps its class')
      } else {
        assert.equal(Object.getPrototypeOf(nf), Object.prototype, 'the raw ack error is plain JSON')
      }
      return out
    } finally { c.close() }
  },

  async custom (url, transport, kind) {
    const c = await connect(url, transport, kind)
    try {
      const r = await c.call('stats', 'messages', { hello: 'world' }, {})
      assert.deepEqual(r.echo, { hello: 'world' })
      assert.equal(r.provider, 'socketio')
      assert.equal(typeof r.count, 'number')
      return r
    } finally { c.close() }
  },

  async events (url, transport, kind) {
    const a = await connect(url, transport, kind)
    const b = await connect(url, transport, kind)
    try {
      const t = tag()
      const created = listen(b, 'messages', 'created')
      const patched = listen(b, 'messages', 'patched')
      const removed = listen(b, 'messages', 'removed')
      const mine = listen(a, 'messages', 'created')
      const m = await a.call('create', 'messages', { text: 'hello', tag: t }, {})
      assert.deepEqual(await created.wait((d) => d.tag === t), m)
      assert.deepEqual(await mine.wait((d) => d.tag === t), m, 'the sender hears its own event too')
      const p = await a.call('patch', 'messages', m.id, { text: 'edited' }, {})
      assert.deepEqual(await patched.wait((d) => d.id === m.id), p)
      const r = await a.call('remove', 'messages', m.id, {})
      assert.deepEqual(await removed.wait((d) => d.id === m.id), r)
      return { created: m, patched: p, removed: r }
    } finally { a.close(); b.close() }
  },

  async channels (url, transport, kind) {
    const a = await connect(url, transport, kind)
    const b = await connect(url, transport, kind)
    const c = await connect(url, transport, kind)
    try {
      const t = tag()
      const room = 'room-' + t
      const heardB = listen(b, 'messages', 'created')
      const heardC = listen(c, 'messages', 'created')
      assert.deepEqual(await b.call('create', 'rooms', { room }, {}), { room, joined: true })
      // a message for the room, then one for everybody: a socket's events come in order,
      // so once C has the second, C would have had the first if it were sent to C
      await a.call('create', 'messages', { text: 'secret', tag: t, room }, {})
      await a.call('create', 'messages', { text: 'public', tag: t, seq: 1 }, {})
      await heardB.wait((d) => d.tag === t && d.room === room)
      await heardB.wait((d) => d.tag === t && d.seq === 1)
      await heardC.wait((d) => d.tag === t && d.seq === 1)
      assert.ok(!heardC.some((d) => d.room === room), 'a client not in the room does not hear its event')
      assert.deepEqual(await b.call('remove', 'rooms', room, {}), { room, joined: false })
      await a.call('create', 'messages', { text: 'secret 2', tag: t, room }, {})
      await a.call('create', 'messages', { text: 'public 2', tag: t, seq: 2 }, {})
      await heardB.wait((d) => d.tag === t && d.seq === 2)
      await heardC.wait((d) => d.tag === t && d.seq === 2)
      assert.equal(heardB.filter((d) => d.room === room).length, 1, 'after leaving, B hears no more of the room')
      assert.ok(!heardC.some((d) => d.room === room), 'C never hears the room')
      return { heardB: heardB.filter((d) => d.tag === t).map((d) => d.text), heardC: heardC.filter((d) => d.tag === t).map((d) => d.text) }
    } finally { a.close(); b.close(); c.close() }
  },

  async slow (url, transport, kind) {
    const c = await connect(url, transport, kind)
    try {
      const t0 = Date.now()
      const order = []
      const slow = c.call('slow', 'messages', { ms: 500 }, {}).then((r) => { order.push('slow'); return [r, Date.now() - t0] })
      const fast = c.call('find', 'messages', { $limit: 1 }).then((r) => { order.push('fast'); return [r, Date.now() - t0] })
      const [[sr, sms], [, fms]] = await Promise.all([slow, fast])
      assert.deepEqual(sr, { slept: 500 })
      assert.deepEqual(order, ['fast', 'slow'], 'the fast ack arrives before the slow one')
      assert.ok(fms < 300, `the fast call took ${fms} ms`)
      assert.ok(sms >= 450, `the slow call took ${sms} ms`)
      return { fastMs: fms, slowMs: sms }
    } finally { c.close() }
  }
}

function pick (arg, all) {
  if (!arg || arg === 'all') return all
  const names = arg.split(',')
  for (const n of names) if (!all.includes(n)) throw new Error(`unknown: ${n} (one of ${all.join(', ')})`)
  return names
}

async function main () {
  const [url, s, t, k] = process.argv.slice(2)
  if (!url) {
    console.error('usage: node socket_client.js URL [SCENARIO,...|all] [TRANSPORT,...|all] [raw,feathers|all]')
    process.exit(2)
  }
  let passed = 0
  let failed = 0
  for (const scenario of pick(s, Object.keys(scenarios))) {
    for (const transport of pick(t, Object.keys(TRANSPORTS))) {
      for (const kind of pick(k, ['raw', 'feathers'])) {
        const line = { scenario, transport, client: kind }
        try {
          line.result = await scenarios[scenario](url, transport, kind)
          line.ok = true
          passed++
        } catch (e) {
          line.ok = false
          line.error = e && (e.stack || e.message || String(e))
          failed++
        }
        console.log(JSON.stringify(line))
      }
    }
  }
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed === 0 ? 0 : 1)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
