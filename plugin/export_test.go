package plugin

// BenchCachedToken lets package plugin_test run the cache-hit validation
// benchmark with the Prometheus metrics on (package plugin cannot import
// them: they import it).
var BenchCachedToken = benchCachedToken
