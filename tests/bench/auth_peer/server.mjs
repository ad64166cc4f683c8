// The peer of tests/bench/auth: a Feathers 5 app (Express REST) with JWT + local authentication,
// one user in memory, and the same echo service guarded (authenticate('jwt')) and open.
// Usage: node server.mjs PORT   (the driver signs a user up with POST /users, then logs in)
import { feathers } from '@feathersjs/feathers'
import express, { rest, json, errorHandler } from '@feathersjs/express'
import { AuthenticationService, JWTStrategy, authenticate } from '@feathersjs/authentication'
import { LocalStrategy, hooks as localHooks } from '@feathersjs/authentication-local'
import { MemoryService } from '@feathersjs/memory'

const { hashPassword, protect } = localHooks
const app = express(feathers())
app.set('authentication', {
  entity: 'user',
  service: 'users',
  secret: 'a benchmark secret that is long enough to be a key',
  authStrategies: ['jwt', 'local'],
  jwtOptions: {
    header: { typ: 'access' }, audience: 'https://yourdomain.com', issuer: 'feathers',
    algorithm: 'HS256', expiresIn: '1d'
  },
  local: { usernameField: 'email', passwordField: 'password' }
})
app.use(json()); app.configure(rest())

const auth = new AuthenticationService(app)
auth.register('jwt', new JWTStrategy())
auth.register('local', new LocalStrategy())
app.use('authentication', auth)

app.use('users', new MemoryService())
app.service('users').hooks({
  around: { find: [authenticate('jwt')], get: [authenticate('jwt')] },
  before: { create: [hashPassword('password')] },
  after: { all: [protect('password')] }
})
const echo = { async get (id) { return { id: Number(id), text: 'hello' } } }
app.use('echo', echo)
app.use('guarded', { ...echo })
app.service('guarded').hooks({ around: { all: [authenticate('jwt')] } })
app.use(errorHandler({ logger: false }))

app.listen(Number(process.argv[2] || 3030))
