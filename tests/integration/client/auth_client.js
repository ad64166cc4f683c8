// auth_client.js: @feathersjs/authentication-client (with MemoryStorage) over REST (fetch) or
// Socket.IO against an fdnode gateway: sign-up, local login, a guarded call, reAuthenticate, logout.
// usage: node auth_client.js URL rest|socketio [remote]   (prints "ok NAME" / "FAIL NAME", then a
// tally; with "remote", also calls the other node's guarded "whoami" through the gateway)
'use strict'
const { feathers } = require('@feathersjs/feathers')
const rest = require('@feathersjs/rest-client')
const socketio = require('@feathersjs/socketio-client')
const authentication = require('@feathersjs/authentication-client')
const { MemoryStorage } = require('@feathersjs/authentication-client')
const { io } = require('socket.io-client')
const assert = require('node:assert/strict')

const [url, transport, remote] = process.argv.slice(2)
const TIMEOUT = 5000
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const tag = () => Math.random().toString(36).slice(2, 10)
const sockets = []

function client () {
  const app = feathers()
  if (transport === 'rest') {
    app.configure(rest(url).fetch(fetch))
  } else {
    const socket = io(url, { transports: ['websocket'], reconnection: false, timeout: TIMEOUT })
    sockets.push(socket)
    app.configure(socketio(socket, { timeout: TIMEOUT }))
  }
  app.configure(authentication({ storage: new MemoryStorage() }))
  return app
}

let passed = 0
let failed = 0
async function check (name, fn) {
  try {
    await fn()
    passed++
    console.log('ok', name)
  } catch (e) {
    failed++
    console.log('FAIL', name, '--', e && (e.stack || e.message))
  }
}

// The promise must reject with NotAuthenticated (401, class not-authenticated) and this message.
async function notAuthenticated (promise, message) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.name, 'NotAuthenticated', JSON.stringify(e))
    assert.equal(e.className, 'not-authenticated')
    assert.equal(e.code, 401)
    assert.equal(e.message, message)
    return true
  })
}

// Collects a service's "created" events; .has(pred) tells whether one matched.
function listen (app, path) {
  const heard = []
  app.service(path).on('created', (data) => heard.push(data))
  heard.has = (pred) => heard.some(pred)
  return heard
}

async function waitFor (pred, ms) {
  const until = Date.now() + ms
  while (!pred() && Date.now() < until) await sleep(20)
  return pred()
}

async function main () {
  const app = client()
  const email = `ada-${tag()}@example.com`
  const password = 'correct horse'
  let login, user

  await check('sign up: users.create hashes the password and does not return it', async () => {
    user = await app.service('users').create({ email, password })
    assert.equal(user.email, email)
    assert.equal(user.password, undefined)
  })
  await check('a wrong password: Invalid login, and no token stored', async () => {
    await notAuthenticated(app.authenticate({ strategy: 'local', email, password: 'wrong' }), 'Invalid login')
    assert.equal(await app.authentication.getAccessToken(), null)
  })
  await check('an unknown user: Invalid login', async () => {
    await notAuthenticated(app.authenticate({ strategy: 'local', email: 'nobody-' + email, password }), 'Invalid login')
  })
  await check('before login a guarded call: Not authenticated', async () => {
    await notAuthenticated(app.service('secrets').find(), 'Not authenticated')
  })
  await check('app.authenticate with the local strategy', async () => {
    login = await app.authenticate({ strategy: 'local', email, password })
    assert.equal(typeof login.accessToken, 'string')
    assert.equal(login.authentication.strategy, 'local')
    assert.equal(login.authentication.payload.sub, String(user.id))
    assert.equal(login.user.email, email)
    assert.equal(login.user.password, undefined)
    assert.equal(await app.authentication.getAccessToken(), login.accessToken, 'the token is in storage')
  })
  await check('a guarded call after login', async () => {
    const s = await app.service('secrets').create({ text: 'mine' })
    assert.equal(s.text, 'mine')
    const me = await app.service('users').get(user.id)
    assert.deepEqual([me.email, me.password], [email, undefined])
  })
  if (remote === 'remote') {
    await check('a remote service verifies the token and sees the user, not the connection', async () => {
      const seen = await app.service('whoami').get(1)
      assert.deepEqual([seen.node, seen.user, seen.authenticated], ['store', { id: user.id, email }, true])
      assert.equal(seen.authentication.accessToken, login.accessToken)
      assert.equal(seen.connection, undefined, 'params.connection stays on the gateway')
    })
  }
  await check('app.reAuthenticate(true) sends the stored JWT and gets it back', async () => {
    const again = await app.reAuthenticate(true)
    assert.equal(again.accessToken, login.accessToken)
    assert.equal(again.authentication.strategy, 'jwt')
    assert.equal(again.user.email, email)
    await app.service('secrets').find()
  })

  let other, heard
  if (transport === 'socketio') {
    other = client()
    await check('socket: a second client logs in too', async () => {
      const email2 = `bob-${tag()}@example.com`
      await other.service('users').create({ email: email2, password })
      await other.authenticate({ strategy: 'local', email: email2, password })
    })
    heard = listen(app, 'secrets')
    const heardByOther = listen(other, 'secrets')
    await check('socket: a secret created by another client reaches the logged-in client', async () => {
      await other.service('secrets').create({ text: 'while-in' })
      assert.ok(await waitFor(() => heard.has((s) => s.text === 'while-in'), 2000), JSON.stringify(heard))
    })
    app.heardByOther = heardByOther
  }

  await check('app.logout() removes the token', async () => {
    const out = await app.logout()
    assert.equal(out.accessToken, login.accessToken)
    assert.equal(await app.authentication.getAccessToken(), null)
  })
  await check('after logout a guarded call: NotAuthenticated', async () => {
    await notAuthenticated(app.service('secrets').find(), 'Not authenticated')
  })
  await check('after logout reAuthenticate has no token', async () => {
    await notAuthenticated(app.reAuthenticate(true), 'No accessToken found in storage')
  })

  if (transport === 'socketio') {
    await check('socket: after logout another client\'s secret does not reach this client', async () => {
      await other.service('secrets').create({ text: 'after-out' })
      assert.ok(await waitFor(() => app.heardByOther.has((s) => s.text === 'after-out'), 2000),
        'the logged-in client heard it')
      await sleep(300)
      assert.ok(!heard.has((s) => s.text === 'after-out'), JSON.stringify(heard))
    })
  }
}

main()
  .catch((e) => { failed++; console.log('FAIL main --', e && e.stack) })
  .finally(() => {
    for (const s of sockets) s.close()
    console.log(`${transport}: ${passed} passed, ${failed} failed`)
    process.exitCode = failed ? 1 : 0
  })
