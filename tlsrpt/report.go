package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"time"
)

// PolicyType is the kind of policy a session was held to (RFC 8460 §4.4).
type PolicyType string

// The policy types.
const (
	PolicySTS      PolicyType = "sts"
	PolicyTLSA     PolicyType = "tlsa"
	PolicyNotFound PolicyType = "no-policy-found"
)

// ResultType names a failure (RFC 8460 §4.3).
type ResultType string

// The result types of RFC 8460 §4.3.
const (
	StartTLSNotSupported    ResultType = "starttls-not-supported"
	CertificateHostMismatch ResultType = "certificate-host-mismatch"
	CertificateExpired      ResultType = "certificate-expired"
	CertificateNotTrusted   ResultType = "certificate-not-trusted"
	ValidationFailure       ResultType = "validation-failure"
	TLSAInvalid             ResultType = "tlsa-invalid"
	DNSSECInvalid           ResultType = "dnssec-invalid"
	DANERequired            ResultType = "dane-required"
	STSPolicyFetchError     ResultType = "sts-policy-fetch-error"
	STSPolicyInvalid        ResultType = "sts-policy-invalid"
	STSWebPKIInvalid        ResultType = "sts-webpki-invalid"
)

// Report is the JSON report (RFC 8460 §4.4).
type Report struct {
	OrganizationName string          `json:"organization-name"`
	DateRange        DateRange       `json:"date-range"`
	ContactInfo      string          `json:"contact-info"`
	ReportID         string          `json:"report-id"`
	Policies         []PolicyResults `json:"policies"`
}

// DateRange is the report's window.
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// PolicyResults are the counts of one applied policy.
type PolicyResults struct {
	Policy         PolicyDesc      `json:"policy"`
	Summary        Summary         `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

// PolicyDesc says which policy was applied. MXHost is a list, as in the
// RFC's example and as large receivers send it.
type PolicyDesc struct {
	Type   PolicyType `json:"policy-type"`
	String []string   `json:"policy-string,omitempty"`
	Domain string     `json:"policy-domain"`
	MXHost []string   `json:"mx-host,omitempty"`
}

// Summary counts sessions.
type Summary struct {
	Successful int64 `json:"total-successful-session-count"`
	Failed     int64 `json:"total-failure-session-count"`
}

// FailureDetail counts the sessions that failed one way.
type FailureDetail struct {
	ResultType          ResultType `json:"result-type"`
	SendingMTAIP        string     `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname string     `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHelo     string     `json:"receiving-mx-helo,omitempty"`
	ReceivingIP         string     `json:"receiving-ip,omitempty"`
	FailedSessionCount  int64      `json:"failed-session-count"`
	AdditionalInfo      string     `json:"additional-information,omitempty"`
	FailureReasonCode   string     `json:"failure-reason-code,omitempty"`
}

// MarshalJSON writes the window in UTC, to the second, as RFC 3339.
func (d DateRange) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Start string `json:"start-datetime"`
		End   string `json:"end-datetime"`
	}{d.Start.UTC().Format(time.RFC3339), d.End.UTC().Format(time.RFC3339)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *DateRange) UnmarshalJSON(b []byte) error {
	var v struct {
		Start time.Time `json:"start-datetime"`
		End   time.Time `json:"end-datetime"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d.Start, d.End = v.Start, v.End
	return nil
}

// Gzip returns the report as gzipped JSON, as both transports send it.
func (r *Report) Gzip() ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(js); err != nil {
		return nil, fmt.Errorf("compress report: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress report: %w", err)
	}
	return buf.Bytes(), nil
}

// Filename is the report's file name (RFC 8460 §5.1):
// submitter!policy-domain!begin!end.json.gz, times in Unix seconds.
func (r *Report) Filename(submitter, domain string) string {
	return fmt.Sprintf("%s!%s!%d!%d.json.gz", submitter, domain, r.DateRange.Start.Unix(), r.DateRange.End.Unix())
}
