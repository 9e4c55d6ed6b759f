'use strict'
// aedes (a Node.js MQTT broker, MQTT 3.1.1 only) over TLS on 127.0.0.1,
// for the flespi-recv --mqtt tests: a second, independent broker that
// packs several MQTT packets into one TLS record when it has them (its
// packet writer corks the socket for a tick), and answers an MQTT 5
// CONNECT with a 3.1.1 CONNACK "unacceptable protocol version".
//
// node tests/aedes/broker.js --cert PEM --key KEY --port-file FILE
//     --log FILE [--publish FILE --topic TOPIC]
//
// Listens on port 0 (written to --port-file once listening); appends to
// --log one line per event: "connect LEVEL CLIENTID", "subscribe QOS
// TOPIC", "published N".  With --publish, the first subscription makes
// it publish every line of FILE to TOPIC at QoS 1, all in one go.
const fs = require('fs')
const tls = require('tls')
const aedes = require('aedes')()

const arg = {}
for (let i = 2; i + 1 < process.argv.length; i += 2) {
  arg[process.argv[i].replace(/^--/, '')] = process.argv[i + 1]
}
for (const a of ['cert', 'key', 'port-file', 'log']) {
  if (!arg[a]) {
    console.error('aedes broker: --' + a + ' is required')
    process.exit(64)
  }
}
const log = (s) => fs.appendFileSync(arg.log, s + '\n')
fs.appendFileSync(arg.log, '')

aedes.preConnect = (client, packet, done) => {
  log('connect ' + packet.protocolVersion + ' ' + packet.clientId)
  done(null, true)
}

let published = false
aedes.on('subscribe', (subs, client) => {
  for (const s of subs) log('subscribe ' + s.qos + ' ' + s.topic)
  if (!arg.publish || published) return
  published = true
  const lines = fs.readFileSync(arg.publish, 'utf8').split('\n')
    .filter((l) => l !== '')
  // After the SUBACK has left: the subscription is in place by then.
  setImmediate(() => {
    for (const l of lines) {
      aedes.publish({ cmd: 'publish', topic: arg.topic, payload: l, qos: 1,
        retain: false }, () => {})
    }
    log('published ' + lines.length)
  })
})

const server = tls.createServer({
  cert: fs.readFileSync(arg.cert),
  key: fs.readFileSync(arg.key)
}, aedes.handle)
server.on('tlsClientError', () => {})
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(arg['port-file'] + '.tmp', server.address().port + '\n')
  fs.renameSync(arg['port-file'] + '.tmp', arg['port-file'])
})
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0))
}
