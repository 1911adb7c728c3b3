package migrate

import (
	"strings"
)

// postfixNotes say where mxout does the job of a setting it does not
// import; matched by name, then by prefix.
var postfixNotes = []struct{ prefix, note string }{
	{"mydestination", "mxout delivers no local mail; it is never the final destination"},
	{"alias_", "mxout delivers no local mail (for `mxout sendmail`, see sendmail.aliases)"},
	{"mailbox_", "mxout delivers no local mail"},
	{"home_mailbox", "mxout delivers no local mail"},
	{"local_", "mxout delivers no local mail"},
	{"inet_interfaces", "mxout listens on submission.listeners (default 127.0.0.1:2525)"},
	{"smtpd_relay_restrictions", "relaying is allowed to submission.trusted_networks and submission.users"},
	{"smtpd_recipient_restrictions", "relaying is allowed to submission.trusted_networks and submission.users"},
	{"smtpd_sender_restrictions", "authenticated senders are limited by submission.users[].allowed_senders"},
	{"smtpd_sasl_", "AUTH accounts are submission.users (`mxout passwd` makes the hash)"},
	{"smtpd_tls_", "a starttls or implicit listener uses submission.tls.cert_file and key_file"},
	{"smtpd_use_tls", "a starttls or implicit listener uses submission.tls.cert_file and key_file"},
	{"smtpd_milters", "mxout signs DKIM itself: dkim.domains (see `mxout import opendkim`)"},
	{"non_smtpd_milters", "mxout signs DKIM itself: dkim.domains (see `mxout import opendkim`)"},
	{"milter_", "mxout signs DKIM itself: dkim.domains (see `mxout import opendkim`)"},
	{"transport_maps", "mxout delivers by MX, or everything through delivery.smarthost; per-domain shaping is delivery.domains"},
	{"relay_domains", "mxout relays for its clients to any domain"},
	{"smtp_tls_", "outbound TLS is delivery.tls (per domain: delivery.domains.<name>.tls)"},
	{"smtp_sasl_", "smarthost credentials are delivery.smarthost.username and password"},
	{"smtpd_banner", "the greeting names hostname"},
	{"queue_directory", "the queue is in data_dir"},
	{"data_directory", "the queue is in data_dir"},
	{"notify_classes", "bounces go to the sender; dsn.postmaster gets reports about failed bounces"},
	{"2bounce_notice_recipient", "dsn.postmaster gets reports about failed bounces"},
}

// leftovers lists every setting of the file that was not imported.
func (p *postfixImport) leftovers() {
	for _, name := range p.cf.order {
		if p.used[name] || p.cf.referenced[name] {
			continue
		}
		why := "no equivalent in mxout"
		for _, n := range postfixNotes {
			if strings.HasPrefix(name, n.prefix) {
				why = n.note
				break
			}
		}
		p.d.skip(p.origin(name), why)
	}
	for _, b := range p.cf.bad {
		p.d.skip(b, "ignored")
	}
}
