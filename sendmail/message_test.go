package sendmail

import (
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

var testSite = Site{Domain: "host.example.test", User: "www-data", Aliases: map[string]string{"root": "ops@example.test"}}

func TestPrepare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     Args
		in       string
		wantFrom string
		wantTo   []string
		wantData string
	}{
		{
			name:     "-t takes To, Cc and Bcc, and removes Bcc (folded too)",
			args:     Args{ExtractRecipients: true, Sender: "app@example.test", SenderSet: true},
			in:       "From: App <app@example.test>\nTo: a@x.example, \"B, Bee\" <b@x.example>\nCc: c@x.example\nBcc: hidden@x.example,\n  hidden2@x.example\nSubject: hi\n\nbody\n",
			wantFrom: "app@example.test",
			wantTo:   []string{"a@x.example", "b@x.example", "c@x.example", "hidden@x.example", "hidden2@x.example"},
			wantData: "From: App <app@example.test>\r\nTo: a@x.example, \"B, Bee\" <b@x.example>\r\nCc: c@x.example\r\nSubject: hi\r\n\r\nbody\r\n",
		},
		{
			name:     "arguments and -t together, each recipient once",
			args:     Args{ExtractRecipients: true, Recipients: []string{"A@x.example", "z@x.example"}},
			in:       "To: a@x.example\n\nx\n",
			wantFrom: "www-data@host.example.test",
			wantTo:   []string{"A@x.example", "z@x.example"},
			wantData: "From: www-data@host.example.test\r\nTo: a@x.example\r\n\r\nx\r\n",
		},
		{
			name:     "Resent- headers win over To with -t",
			args:     Args{ExtractRecipients: true},
			in:       "From: a@x.example\nTo: old@x.example\nResent-To: new@x.example\nResent-Bcc: secret@x.example\n\nx\n",
			wantFrom: "www-data@host.example.test",
			wantTo:   []string{"new@x.example", "secret@x.example"},
			wantData: "From: a@x.example\r\nTo: old@x.example\r\nResent-To: new@x.example\r\n\r\nx\r\n",
		},
		{
			name:     "cron: unqualified root goes through the alias, -F names the added From",
			args:     Args{FullName: "Cron Daemon", IgnoreDots: true, Recipients: []string{"root"}},
			in:       "Subject: Cron <root@host> backup\nContent-Type: text/plain\n\nok\n",
			wantFrom: "www-data@host.example.test",
			wantTo:   []string{"ops@example.test"},
			wantData: "From: \"Cron Daemon\" <www-data@host.example.test>\r\nSubject: Cron <root@host> backup\r\nContent-Type: text/plain\r\n\r\nok\r\n",
		},
		{
			name:     "without -i a lone dot ends the input; dots elsewhere stay",
			args:     Args{Recipients: []string{"a@x.example"}},
			in:       "Subject: dots\n\n.leading\n..two\n.\nnot sent\n",
			wantFrom: "www-data@host.example.test",
			wantTo:   []string{"a@x.example"},
			wantData: "From: www-data@host.example.test\r\nSubject: dots\r\n\r\n.leading\r\n..two\r\n",
		},
		{
			name:     "with -i a lone dot is content",
			args:     Args{IgnoreDots: true, Recipients: []string{"a@x.example"}},
			in:       "Subject: dots\r\n\r\n.\r\nafter\r\n",
			wantFrom: "www-data@host.example.test",
			wantTo:   []string{"a@x.example"},
			wantData: "From: www-data@host.example.test\r\nSubject: dots\r\n\r\n.\r\nafter\r\n",
		},
		{
			name:     "no header at all: the text is the body; lone CRs dropped; no final newline",
			args:     Args{Recipients: []string{"a@x.example"}, Sender: "", SenderSet: true},
			in:       "hello world\r\r\nsecond line",
			wantFrom: "",
			wantTo:   []string{"a@x.example"},
			wantData: "From: www-data@host.example.test\r\n\r\nhello world\r\nsecond line\r\n",
		},
		{
			name:     "git format-patch mbox line is dropped; unqualified -f is qualified",
			args:     Args{IgnoreDots: true, Sender: "dev", SenderSet: true, Recipients: []string{"list@x.example"}},
			in:       "From 3f1e7c Mon Sep 17 00:00:00 2001\nFrom: Dev <dev@example.test>\nSubject: [PATCH] x\n\n---\n",
			wantFrom: "dev@host.example.test",
			wantTo:   []string{"list@x.example"},
			wantData: "From: Dev <dev@example.test>\r\nSubject: [PATCH] x\r\n\r\n---\r\n",
		},
		{
			name:     "a group and undisclosed-recipients",
			args:     Args{ExtractRecipients: true, Sender: "a@x.example", SenderSet: true},
			in:       "From: a@x.example\nTo: undisclosed-recipients:;\nCc: Team: t1@x.example, t2@x.example;\n\nx\n",
			wantFrom: "a@x.example",
			wantTo:   []string{"t1@x.example", "t2@x.example"},
			wantData: "From: a@x.example\r\nTo: undisclosed-recipients:;\r\nCc: Team: t1@x.example, t2@x.example;\r\n\r\nx\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Prepare(strings.NewReader(tt.in), tt.args, testSite)
			if err != nil {
				t.Fatal(err)
			}
			if m.From != tt.wantFrom || !reflect.DeepEqual(m.To, tt.wantTo) {
				t.Errorf("envelope %q -> %q, want %q -> %q", m.From, m.To, tt.wantFrom, tt.wantTo)
			}
			if string(m.Data) != tt.wantData {
				t.Errorf("data\n got %q\nwant %q", m.Data, tt.wantData)
			}
		})
	}
}

func TestPrepare_BadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     Args
		in       string
		max      int64
		wantCode int
		wantMsg  string
	}{
		{"-t finds nobody", Args{ExtractRecipients: true}, "Subject: x\n\nx\n", 0, ExDataErr, "no recipients"},
		{"bad address in To", Args{ExtractRecipients: true}, "To: a@@x example\n\nx\n", 0, ExDataErr, "To header"},
		{"bad recipient argument", Args{Recipients: []string{"a b c"}}, "x\n", 0, ExDataErr, `recipient "a b c"`},
		{"bad sender", Args{Recipients: []string{"a@x.example"}, Sender: "a@b@c d", SenderSet: true}, "x\n", 0, ExDataErr, "sender -f"},
		{"too large", Args{Recipients: []string{"a@x.example"}}, strings.Repeat("x", 100) + "\n", 50, ExDataErr, "larger than the relay takes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			site := testSite
			site.MaxBytes = tt.max
			_, err := Prepare(strings.NewReader(tt.in), tt.args, site)
			if ExitCode(err) != tt.wantCode || err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Prepare = %v (exit %d), want exit %d mentioning %q", err, ExitCode(err), tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestPrepare_ReadErrorIsIOErr(t *testing.T) {
	t.Parallel()
	_, err := Prepare(iotest.ErrReader(iotest.ErrTimeout), Args{Recipients: []string{"a@x.example"}}, testSite)
	if ExitCode(err) != ExIOErr {
		t.Errorf("Prepare on a failing reader = %v (exit %d), want %d", err, ExitCode(err), ExIOErr)
	}
}

func FuzzPrepare(f *testing.F) {
	f.Add("To: a@x.example\nBcc: b@x.example\n\nbody\n", true, false)
	f.Add("From x\nSubject: s\n  folded\n\n.\nafter\n", false, true)
	f.Add("no header\r\r\n.\n", false, false)
	f.Add("To: Team: a@x.example;\nResent-Cc: root\n\n", true, true)
	f.Fuzz(func(t *testing.T, in string, extract, ignoreDots bool) {
		a := Args{ExtractRecipients: extract, IgnoreDots: ignoreDots, Recipients: []string{"fixed@x.example"}}
		m, err := Prepare(strings.NewReader(in), a, testSite)
		if err != nil {
			if c := ExitCode(err); c != ExDataErr {
				t.Fatalf("Prepare(%q): exit %d", in, c)
			}
			return
		}
		data := string(m.Data)
		if strings.Contains(strings.ReplaceAll(data, "\r\n", ""), "\r") || strings.Contains(strings.ReplaceAll(data, "\r\n", ""), "\n") {
			t.Fatalf("bare CR or LF in %q", data)
		}
		header, _, _ := strings.Cut(data, "\r\n\r\n")
		for _, l := range strings.Split(header, "\r\n") {
			if strings.HasPrefix(strings.ToLower(l), "bcc:") {
				t.Fatalf("Bcc kept in %q", data)
			}
		}
		if len(m.To) == 0 || !strings.Contains(strings.ToLower(header), "from:") {
			t.Fatalf("no recipient or no From in %q -> %+v", in, m)
		}
	})
}
