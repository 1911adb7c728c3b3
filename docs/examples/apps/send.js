const nodemailer = require("nodemailer");

const transport = nodemailer.createTransport({
  host: "mxout.example.com",
  port: 587,
  requireTLS: true, // STARTTLS, with the certificate verified, or no send
  auth: { user: "app1", pass: "the-password" },
});

transport
  .sendMail({
    from: "noreply@example.com",
    to: "customer@example.net",
    subject: "Your receipt",
    text: "Thank you for your order.",
  })
  .then((info) => console.log("queued:", info.response))
  .catch((err) => {
    console.error(err.message);
    process.exitCode = 1;
  });
