// chat.js: the chat page's script. Sign up or log in (email, password), stay logged in across
// reloads (the token in localStorage), then list the last messages, post new ones and show
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
  app.configure(feathers.authentication()) // keeps the token in localStorage ("feathers-jwt")
  window.chat = app // for the browser's console
  const messages = app.service('messages')
  let user = null // the logged-in user, or null

  function clear () {
    shown.clear()
    const empty = document.createElement('li')
    empty.className = 'empty'
    empty.textContent = 'No messages yet.'
    list.replaceChildren(empty)
  }

  function show (msg) {
    if (!user || msg.id === undefined || shown.has(msg.id)) return
    shown.add(msg.id)
    const empty = list.querySelector('.empty')
    if (empty) empty.remove()
    const li = document.createElement('li')
    li.dataset.id = msg.id
    const who = document.createElement('span')
    who.className = 'who'
    who.textContent = (msg.user && msg.user.email) || 'someone'
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

  function failed (e) { $('error').textContent = e.message }

  // Logged in (a login, a sign-up, or the stored token on load or after a reconnect).
  async function enter (result) {
    user = result.user
    $('who').textContent = user.email
    $('login').hidden = true
    $('chat').hidden = false
    $('error').textContent = ''
    const page = await messages.find({ query: { $sort: { id: -1 }, $limit: 25 } })
    page.data.reverse().forEach(show)
  }

  function leave () {
    user = null
    clear()
    $('chat').hidden = true
    $('login').hidden = false
  }

  app.on('login', (result) => { enter(result).catch(failed) })
  app.on('logout', leave)
  messages.on('created', show)
  socket.on('connect', () => online(true))
  socket.on('disconnect', () => online(false))
  app.reAuthenticate().catch(leave) // no stored token, or it expired: the login form

  function credentials () {
    return { strategy: 'local', email: $('email').value.trim(), password: $('password').value }
  }
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault()
    app.authenticate(credentials()).catch(failed)
  })
  $('signup').addEventListener('click', async () => {
    if (!$('login').reportValidity()) return
    const { email, password } = credentials()
    try {
      await app.service('users').create({ email, password })
      await app.authenticate(credentials())
    } catch (e) {
      failed(e)
    }
  })
  $('logout').addEventListener('click', () => { app.logout().catch(failed).then(leave) })

  $('send').addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const text = $('text').value.trim()
    if (!text) return
    $('error').textContent = ''
    try {
      await messages.create({ text })
      $('text').value = ''
    } catch (e) {
      failed(e)
    }
  })
})()
