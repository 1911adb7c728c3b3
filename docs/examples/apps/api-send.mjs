const resp = await fetch("https://mxout.example.com:8443/v1/send", {
  method: "POST",
  headers: {
    Authorization: `Bearer ${process.env.MXOUT_TOKEN}`,
    "Content-Type": "application/json",
    "Idempotency-Key": "receipt-4711", // a retry sends nothing twice
  },
  body: JSON.stringify({
    from: "Shop <noreply@example.com>",
    to: ["customer@example.net"],
    subject: "Your receipt",
    text: "Thank you for your order.",
    html: "<p>Thank you for your <b>order</b>.</p>",
    metadata: { order: "4711" },
  }),
});
const answer = await resp.json();
if (resp.status === 202) {
  console.log("queued:", answer.id);
} else {
  // 503 and 5xx: try again later; 400, 401, 403, 413: fix the request.
  console.error(`refused (${resp.status}): ${answer.field}: ${answer.error}`);
  process.exitCode = 1;
}
