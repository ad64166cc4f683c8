// jwt_interop.js URL SECRET: tokens cross between fdnode and npm jsonwebtoken (what Feathers
// signs and verifies with). Logs in on fdnode, verifies that token with jsonwebtoken as
// Feathers' verifyAccessToken does; signs a Feathers-style token with jsonwebtoken and uses it on
// a guarded fdnode service. One "ok <what>" or "FAIL <what> -- <detail>" line per check.
'use strict'
const jwt = require('jsonwebtoken')

const [url, secret] = process.argv.slice(2)
let failed = 0
function check (ok, what, detail) {
  console.log(ok ? `ok ${what}` : `FAIL ${what} -- ${detail}`)
  if (!ok) failed++
}
async function call (method, path, body, token) {
  const headers = { 'content-type': 'application/json' }
  if (token) headers.authorization = `Bearer ${token}`
  const res = await fetch(url + path, { method, headers, body: body && JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}
const VERIFY = { algorithms: ['HS256'], audience: 'https://yourdomain.com', issuer: 'feathers' }

async function main () {
  const email = `interop${Date.now()}@example.com`
  await call('POST', '/users', { email, password: 'pw' })
  const login = await call('POST', '/authentication', { strategy: 'local', email, password: 'pw' })
  check(login.status === 201, 'fdnode logs in', JSON.stringify(login.body))
  const token = login.body.accessToken
  let decoded = null
  try {
    decoded = jwt.verify(token, secret, { ...VERIFY, complete: true })
  } catch (e) {
    check(false, "jsonwebtoken verifies fdnode's token", e.message)
  }
  if (decoded) {
    check(true, "jsonwebtoken verifies fdnode's token")
    check(decoded.header.alg === 'HS256' && decoded.header.typ === 'access', 'its header is HS256, typ access',
      JSON.stringify(decoded.header))
    const p = decoded.payload
    check(p.sub === String(login.body.user.id) && typeof p.jti === 'string' && p.exp - p.iat === 86400,
      'its claims: sub the user id as text, a jti, a day of life', JSON.stringify(p))
  }
  let refused = null
  try { jwt.verify(token, secret + 'x', VERIFY) } catch (e) { refused = e.message }
  check(refused === 'invalid signature', 'jsonwebtoken refuses it with another key', refused)

  const theirs = jwt.sign({}, secret, {
    header: { typ: 'access' }, audience: 'https://yourdomain.com', issuer: 'feathers', algorithm: 'HS256',
    expiresIn: '1h', subject: String(login.body.user.id), jwtid: 'b6f1c1de-5c36-4a57-9b1e-2f0a1f4a9e61'
  })
  const ok = await call('GET', `/users/${login.body.user.id}`, null, theirs)
  check(ok.status === 200 && ok.body.email === email, "fdnode accepts jsonwebtoken's token on a guarded service",
    JSON.stringify(ok))
  const re = await call('POST', '/authentication', { strategy: 'jwt', accessToken: theirs })
  check(re.status === 201 && re.body.accessToken === theirs && re.body.authentication.payload.jti ===
    'b6f1c1de-5c36-4a57-9b1e-2f0a1f4a9e61', 'and as a jwt login, with its payload', JSON.stringify(re.body))
  const expired = jwt.sign({ exp: Math.floor(Date.now() / 1000) - 10 }, secret, {
    header: { typ: 'access' }, audience: 'https://yourdomain.com', issuer: 'feathers', subject: String(login.body.user.id)
  })
  const no = await call('GET', `/users/${login.body.user.id}`, null, expired)
  check(no.status === 401 && no.body.message === 'jwt expired', "an expired jsonwebtoken token: 401 'jwt expired'",
    JSON.stringify(no))
  console.log(`${failed} failed`)
  process.exit(failed ? 1 : 0)
}
main().catch((e) => { console.log(`FAIL the script -- ${e.stack}`); process.exit(1) })
