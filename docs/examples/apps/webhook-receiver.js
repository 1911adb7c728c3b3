const crypto = require("node:crypto");
const http = require("node:http");

const secret = process.env.MXOUT_WEBHOOK_SECRET;
const tolerance = 300; // seconds: refuse replays of old batches

// Check Mxout-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
function verify(header, body) {
  let t;
  const signatures = [];
  for (const part of header.split(",")) {
    const [key, value] = part.trim().split("=", 2);
    if (key === "t") t = value;
    if (key === "v1") signatures.push(value);
  }
  if (!/^\d+$/.test(t ?? "") || Math.abs(Date.now() / 1000 - Number(t)) > tolerance) return false;
  const expected = crypto.createHmac("sha256", secret).update(`${t}.`).update(body).digest();
  return signatures.some((s) => {
    const got = Buffer.from(s, "hex");
    return got.length === expected.length && crypto.timingSafeEqual(got, expected);
  });
}

const seen = new Set(); // event ids already handled; in an application, a unique index

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (!verify(req.headers["mxout-signature"] ?? "", body)) {
        res.writeHead(401).end();
        return;
      }
      for (const event of JSON.parse(body).events) {
        if (seen.has(event.id)) continue; // delivered at least once: skip repeats
        seen.add(event.id);
        console.log(event.type, event.recipient, event.dsn, event.reply);
      }
      res.writeHead(204).end(); // any 2xx acknowledges the batch
    });
  })
  .listen(8000, "127.0.0.1");
