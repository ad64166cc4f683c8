// feathers_server.js: NOT part of the test suite. A real Feathers 5 server (REST +
// Socket.IO) that mirrors tests/integration/fixtures/socket/ (messages, rooms, the
// channels), and serves a public folder, to validate the client scripts and the chat
// page against Feathers itself. usage: node feathers_server.js PORT [PUBLIC_DIR]
'use strict'
const { feathers } = require('@feathersjs/feathers')
const express = require('@feathersjs/express')
const socketio = require('@feathersjs/socketio')
const { MemoryService } = require('@feathersjs/memory')
const { BadRequest } = require('@feathersjs/errors')

const port = Number(process.argv[2] || 3030)
const publicDir = process.argv[3]

class Messages extends MemoryService {
  async stats (data, params) {
    const all = await this.find({ query: {}, paginate: false })
    return { count: all.length, echo: data, provider: params.provider }
  }

  async slow (data, params) {
    const ms = (data && data.ms) || 500
    await new Promise((resolve) => setTimeout(resolve, ms))
    return { slept: ms }
  }
}

const app = express(feathers())
app.use(express.json())
if (publicDir) app.use('/', express.static(publicDir))
app.configure(express.rest())
app.configure(socketio())

app.use('messages', new Messages({ paginate: { default: 10, max: 50 }, multi: true }), {
  methods: ['find', 'get', 'create', 'update', 'patch', 'remove', 'stats', 'slow']
})
app.service('messages').hooks({
  before: {
    create: [async (ctx) => {
      if (ctx.data && ctx.data.bad) throw new BadRequest('bad message', { field: 'bad' })
    }]
  }
})
app.use('rooms', {
  async create (data, params) {
    app.channel(data.room).join(params.connection)
    return { room: data.room, joined: true }
  },
  async remove (id, params) {
    app.channel(id).leave(params.connection)
    return { room: id, joined: false }
  }
})
app.on('connection', (connection) => app.channel('anonymous').join(connection))
// a message with a room goes to that room's members only; others to everybody
app.publish((data) => (data && data.room ? app.channel(data.room) : app.channel('anonymous')))

app.listen(port).then(() => console.log('feathers reference listening on', port))
