package testcert

import (
	"crypto/tls"
	"net"
	"testing"
)

// A pair written to disk loads as a key pair, and a client that trusts
// its pool completes a handshake with it by name and by address.
func TestPair_WriteLoadAndHandshake(t *testing.T) {
	t.Parallel()
	p, err := New("relay", "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := p.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("load written pair: %v", err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{loaded}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	for _, name := range []string{"localhost", "127.0.0.1"} {
		c, err := tls.DialWithDialer(&net.Dialer{}, "tcp", l.Addr().String(), &tls.Config{RootCAs: p.Pool(), ServerName: name})
		if err != nil {
			t.Errorf("handshake as %s: %v", name, err)
			continue
		}
		c.Close()
	}
	if _, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: p.Pool(), ServerName: "other.example"}); err == nil {
		t.Error("handshake for a name the certificate does not hold succeeded")
	}
}
