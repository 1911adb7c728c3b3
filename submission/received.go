package submission

import (
	"bytes"
	"crypto/tls"
	"net/netip"
	"strings"
	"time"

	"github.com/mxout/mxout/queue"
)

// stamp describes the Received, Message-ID and Date fields to add.
type stamp struct {
	ID       queue.ID
	Hostname string
	Helo     string
	IP       netip.Addr
	// HideIP leaves the client's address out (submission.hide_client_ip).
	HideIP bool
	TLS    *stampTLS // nil without TLS
	Auth   bool
	// User is named only when submission.received_header_auth is on.
	User string
	// Rcpt is named in the Received field when the message has exactly one
	// recipient; with more it would disclose the others (RFC 5321 4.4).
	Rcpt string
	Now  time.Time
	// Protocol, when set, is the "with" keyword instead of ESMTP and its
	// letters (the HTTP API's HTTP or HTTPS).
	Protocol string
}

// stampTLS is what the Received field tells of the TLS session.
type stampTLS struct {
	Version, CipherSuite uint16
}

// stampFields returns the fields to put in front of msg: a Received field,
// and Message-ID and Date when msg's header section lacks them (and the
// empty line that ends a header section when msg has none). msg itself
// stays unchanged after them. The Received field follows RFC 5321 4.4 with
// Postfix's comments, which log tools know:
//
//	Received: from client.example ([192.0.2.7])
//		(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256)
//		(Authenticated sender: app)
//		by relay.example.net (mxout) with ESMTPSA id 0123456789abcdefghij
//		for <b@example.com>; Wed, 25 Nov 2026 13:04:05 +0100
func stampFields(msg []byte, st stamp) []byte {
	h := scanHeader(msg)
	date := st.Now.Format(time.RFC1123Z)
	var b bytes.Buffer
	b.Grow(512)
	b.WriteString("Received: from ")
	if st.HideIP {
		b.WriteString(hiddenHelo(st.Helo))
	} else {
		b.WriteString(sanitizeHelo(st.Helo))
		b.WriteString(" (")
		b.WriteString(ipLiteral(st.IP))
		b.WriteString(")")
	}
	if st.TLS != nil {
		b.WriteString("\r\n\t(using ")
		b.WriteString(tlsVersionName(st.TLS.Version))
		b.WriteString(" with cipher ")
		b.WriteString(tls.CipherSuiteName(st.TLS.CipherSuite))
		b.WriteString(")")
	}
	if st.User != "" {
		b.WriteString("\r\n\t(Authenticated sender: ")
		b.WriteString(sanitizeHelo(st.User))
		b.WriteString(")")
	}
	b.WriteString("\r\n\tby ")
	b.WriteString(st.Hostname)
	b.WriteString(" (mxout) with ")
	if st.Protocol != "" {
		b.WriteString(st.Protocol)
	} else {
		b.WriteString(protocol(st.TLS != nil, st.Auth))
	}
	b.WriteString(" id ")
	b.WriteString(string(st.ID))
	if st.Rcpt != "" {
		b.WriteString("\r\n\tfor <")
		b.WriteString(st.Rcpt)
		b.WriteString(">; ")
	} else {
		b.WriteString(";\r\n\t")
	}
	b.WriteString(date)
	b.WriteString("\r\n")
	if !h.HasMessageID {
		b.WriteString("Message-ID: <" + string(st.ID) + "@" + st.Hostname + ">\r\n")
	}
	if !h.HasDate {
		b.WriteString("Date: " + date + "\r\n")
	}
	if !h.HasHeader {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// protocol is the RFC 3848 "with" keyword.
func protocol(tls, auth bool) string {
	p := "ESMTP"
	if tls {
		p += "S"
	}
	if auth {
		p += "A"
	}
	return p
}

// tlsVersionName names a TLS version as Postfix does ("TLSv1.3").
func tlsVersionName(v uint16) string {
	return strings.Replace(tls.VersionName(v), "TLS ", "TLSv", 1)
}

// ipLiteral writes ip as an RFC 5321 address literal.
func ipLiteral(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "[unknown]"
	case ip.Is4():
		return "[" + ip.String() + "]"
	default:
		return "[IPv6:" + ip.WithZone("").String() + "]"
	}
}

// maxHeloLen bounds the client's EHLO name in the Received field.
const maxHeloLen = 255

// sanitizeHelo makes the client's EHLO argument (or another name) safe in
// a header: it is untrusted text, and a CR, LF or parenthesis in it could
// forge fields or comments.
func sanitizeHelo(helo string) string {
	if helo == "" {
		return "unknown"
	}
	if len(helo) > maxHeloLen {
		helo = helo[:maxHeloLen]
	}
	return strings.Map(func(r rune) rune {
		if r < 33 || r > 126 || r == '(' || r == ')' || r == '\\' || r == ';' {
			return '?'
		}
		return r
	}, helo)
}

// hiddenHelo is the EHLO name when the client's IP address is hidden: an
// address literal would give the address away, so it becomes "unknown".
func hiddenHelo(helo string) string {
	if strings.HasPrefix(helo, "[") {
		return "unknown"
	}
	return sanitizeHelo(helo)
}
