// Package migrate turns the configuration of the tools mxout replaces
// into mxout YAML: Postfix's main.cf (Postfix) and OpenDKIM's
// opendkim.conf with its key and signing tables (OpenDKIM).
//
// The output is a config file fragment for a person to review: every
// imported value carries a comment naming the setting it came from, and
// every setting of the input that has no mxout equivalent is listed in a
// comment saying so (and where mxout does that job instead, if it does).
// The output loads with configs.Load (the golden tests check it); an
// input value that would make it invalid is left out with a comment, never
// copied. The importers never fail on input: unreadable parts become
// comments.
package migrate
