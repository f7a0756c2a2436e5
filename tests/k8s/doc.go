// Package k8s checks the Kubernetes deployment files in deploy/kubernetes:
// the Helm chart is rendered and linted with Helm's own Go library and every
// object it renders is decoded strictly into the Kubernetes API types; the
// Kong Ingress Controller, Envoy Gateway and Istio manifests are decoded
// into their projects' own Go types; and the chart's pod spec is run: the
// rendered container's command, arguments and environment start the real
// binary, with the pod's paths mapped into a temporary directory, until its
// readiness probe answers.
//
// It is a module of its own so that Helm's and the Kubernetes modules stay
// out of the product's go.mod. `make test` runs it.
package k8s
