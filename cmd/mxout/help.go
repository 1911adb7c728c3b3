package main

// rootExamples is the Examples section of `mxout --help`: the commands a
// newcomer reaches for first.
const rootExamples = `  mxout serve --config /etc/mxout/mxout.yaml      run the relay
  mxout config check --config /etc/mxout/mxout.yaml
  printf 'Subject: hi\n\nhello\n' | mxout sendmail you@example.net
  mxout import postfix /etc/postfix/main.cf       the mxout config for a Postfix one
  mxout completion bash > /etc/bash_completion.d/mxout   (also zsh, fish)`
