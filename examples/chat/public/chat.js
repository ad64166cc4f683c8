// chat.js: the chat page's script. Lists the last messages, posts new ones and shows
// everybody's as they arrive ("messages created"), through Feathers' socket client.
/* global io, feathers */
'use strict'
;(function () {
  const $ = (id) => document.getElementById(id)
  const list = $('messages')
  const shown = new Set() // ids on the page: a message is shown once, from find or the event

  const socket = io() // the page's own origin, /socket.io/
  const app = feathers()
  app.configure(feathers.socketio(socket))
  const messages = app.service('messages')

  function show (msg) {
    if (msg.id === undefined || shown.has(msg.id)) return
    shown.add(msg.id)
    const empty = list.querySelector('.empty')
    if (empty) empty.remove()
    const li = document.createElement('li')
    li.dataset.id = msg.id
    const who = document.createElement('span')
    who.className = 'who'
    who.textContent = msg.name || (msg.user && msg.user.name) || 'anonymous'
    li.append(who, document.createTextNode(msg.text || ''))
    if (typeof msg.createdAt === 'number') {
      const when = document.createElement('span')
      when.className = 'when'
      when.textContent = new Date(msg.createdAt * 1000).toLocaleTimeString()
      li.append(when)
    }
    list.append(li)
    list.scrollTop = list.scrollHeight
  }

  function online (yes) {
    $('status').textContent = yes ? 'online' : 'offline'
    $('status').className = yes ? 'online' : ''
    $('post').disabled = !yes
  }

  async function load () {
    const page = await messages.find({ query: { $sort: { id: -1 }, $limit: 25 } })
    page.data.reverse().forEach(show)
  }

  messages.on('created', show)
  socket.on('connect', () => {
    online(true)
    load().catch((e) => { $('error').textContent = e.message })
  })
  socket.on('disconnect', () => online(false))

  $('name').value = localStorage.getItem('chat-name') || ''
  $('send').addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const name = $('name').value.trim()
    const text = $('text').value.trim()
    if (!name || !text) return
    localStorage.setItem('chat-name', name)
    $('error').textContent = ''
    try {
      await messages.create({ name, text })
      $('text').value = ''
    } catch (e) {
      $('error').textContent = e.message
    }
  })
})()
