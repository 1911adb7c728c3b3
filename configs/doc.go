// Package configs is mxout's configuration: the schema, the embedded
// defaults, loading from YAML + MXOUT_* environment variables with viper,
// and validation whose errors name the bad key and value.
//
// Defaults live only in defaults.yaml (embedded); mxout.example.yaml
// documents every key. Other packages take plain values from cmd/mxout and
// never read configuration themselves.
package configs
