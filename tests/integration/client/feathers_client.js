// feathers_client.js: drives Feathers' own REST client (@feathersjs/rest-client
// with fetch) against an fdnode gateway and checks what comes back.
// usage: node feathers_client.js http://127.0.0.1:PORT
'use strict'
const { feathers } = require('@feathersjs/feathers')
const rest = require('@feathersjs/rest-client')
const assert = require('node:assert/strict')

const url = process.argv[2]
const app = feathers()
const connection = rest(url).fetch(fetch)
app.configure(connection)
// Custom methods are declared the Feathers 5 way: the client service is
// registered with its method list.
app.use('items', connection.service('items'), {
  methods: ['find', 'get', 'create', 'update', 'patch', 'remove', 'stats']
})

let passed = 0
let failed = 0
async function check (name, fn) {
  try {
    await fn()
    passed++
  } catch (e) {
    failed++
    console.error('FAIL:', name, '\n ', e && e.message)
  }
}

async function main () {
  const items = app.service('items')
  let ada
  await check('create', async () => {
    ada = await items.create({ name: 'ada', age: 36, tags: [] })
    assert.equal(ada.name, 'ada')
    assert.deepEqual(ada.tags, [])
    assert.equal(typeof ada.id, 'number')
    await items.create({ name: 'bob', age: 17 })
    await items.create({ name: 'cy', age: 52.5 })
  })
  await check('find with a query', async () => {
    const adults = await items.find({ query: { age: { $gte: 18 }, $sort: { age: -1 }, $select: ['name'] } })
    assert.deepEqual(adults.map((u) => u.name), ['cy', 'ada'])
    assert.ok(adults.every((u) => u.age === undefined && u.id !== undefined), '$select keeps only name and id')
  })
  await check('find with $in and $or', async () => {
    const r = await items.find({ query: { $or: [{ name: 'bob' }, { name: { $in: ['cy', 'zed'] } }] } })
    assert.deepEqual(r.map((u) => u.name).sort(), ['bob', 'cy'])
  })
  await check('get', async () => {
    const r = await items.get(ada.id)
    assert.deepEqual(r, ada)
  })
  await check('update', async () => {
    const r = await items.update(ada.id, { name: 'ada', age: 37 })
    assert.deepEqual(r, { id: ada.id, name: 'ada', age: 37 })
  })
  await check('patch', async () => {
    const r = await items.patch(ada.id, { city: 'London' })
    assert.deepEqual(r, { id: ada.id, name: 'ada', age: 37, city: 'London' })
  })
  await check('remove', async () => {
    const r = await items.remove(ada.id)
    assert.equal(r.id, ada.id)
  })
  await check('a custom method', async () => {
    const r = await items.stats({ hello: 'world' })
    assert.deepEqual(r.echo, { hello: 'world' })
    assert.equal(r.count, 2)
  })
  await check('NotFound keeps its class', async () => {
    await assert.rejects(items.get(ada.id), (e) => {
      assert.equal(e.name, 'NotFound')
      assert.equal(e.code, 404)
      assert.equal(e.className, 'not-found')
      assert.equal(e.message, `No record found for id '${ada.id}'`)
      return true
    })
  })
  await check('a thrown error with data', async () => {
    await assert.rejects(items.create({ reject: true }), (e) => {
      assert.equal(e.name, 'Unprocessable')
      assert.equal(e.code, 422)
      assert.deepEqual(e.data, { reason: 'asked' })
      return true
    })
  })
  await check('a Lua bug is a GeneralError', async () => {
    const crash = app.service('crash')
    await assert.rejects(crash.get('1'), (e) => e.name === 'GeneralError' && e.code === 500)
  })
  await check('a method the service does not expose', async () => {
    const ro = app.service('readonly')
    await assert.rejects(ro.create({ a: 1 }), (e) => e.name === 'MethodNotAllowed' && e.code === 405)
  })
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed === 0 ? 0 : 1)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
