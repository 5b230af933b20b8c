// Command cert-manager-webhook runs cert-manager's admission webhook, as
// cert-manager v1.21's cmd/webhook does, for Ember's end-to-end tests.
//
// Configuration and flags are cert-manager's own (pkg/webhook/options), the
// server is built by cert-manager's constructor
// (internal/webhook.NewCertManagerWebhookServer) with its admission chain:
// CertificateRequest identity (fills spec.username/uid/groups/extra on
// create), CertificateRequest approval (SubjectAccessReview "approve" on
// signers) and resource validation. Only the listening differs: cert-manager
// binds every address; here the HTTPS (and healthz, metrics) listeners bind
// --bind-address, 127.0.0.1 by default, and the HTTPS port only opens once
// the serving certificate has been loaded, so "port open" means "ready".
//
// Defaults that differ from cert-manager's: metrics and healthz are off
// unless given (--metrics-listen-address HOST:PORT, --healthz-port N), and
// the OtherNames, LiteralCertificateSubject and NameConstraints feature
// gates are set on (they may be overridden with --feature-gates).
package main

import (
	"github.com/cert-manager/cert-manager/ember-e2e/gates"

	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	ciphers "k8s.io/component-base/cli/flag"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/cert-manager/cert-manager/internal/apis/config/webhook/validation"
	cmdutil "github.com/cert-manager/cert-manager/internal/cmd/util"
	cmwebhook "github.com/cert-manager/cert-manager/internal/webhook"
	_ "github.com/cert-manager/cert-manager/internal/webhook/feature" // registers the webhook's gates
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
	cmadmission "github.com/cert-manager/cert-manager/pkg/webhook/admission"
	"github.com/cert-manager/cert-manager/pkg/webhook/options"
	"github.com/cert-manager/cert-manager/pkg/webhook/server"
)

func main() {
	ctx, exit := cmdutil.SetupExitHandler(context.Background(), cmdutil.GracefulShutdown)
	defer exit() // may call os.Exit: deferred first so it runs last

	logf.InitLogs()
	defer logf.FlushLogs()
	ctrl.SetLogger(logf.Log)

	cfg, err := options.NewWebhookConfiguration()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-webhook:", err)
		cmdutil.SetExitCodeValue(2)
		return
	}
	cfg.MetricsListenAddress = "0"
	cfg.HealthzPort = 0

	bindAddress := "127.0.0.1"
	fs := pflag.NewFlagSet("cert-manager-webhook", pflag.ContinueOnError)
	options.AddConfigFlags(fs, cfg)
	fs.StringVar(&bindAddress, "bind-address", bindAddress, "address the HTTPS, healthz and metrics listeners bind (cert-manager binds all addresses)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		cmdutil.SetExitCodeValue(2)
		return
	}

	if err := gates.Apply(cfg.FeatureGates); err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-webhook:", err)
		cmdutil.SetExitCodeValue(2)
		return
	}
	if errs := validation.ValidateWebhookConfiguration(cfg, nil); len(errs) > 0 {
		fmt.Fprintln(os.Stderr, "cert-manager-webhook: error validating flags:", errs.ToAggregate())
		cmdutil.SetExitCodeValue(2)
		return
	}
	if err := logf.ValidateAndApply(&cfg.Logging); err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-webhook: logging flags:", err)
		cmdutil.SetExitCodeValue(2)
		return
	}
	if cfg.EnableClientVerification {
		fmt.Fprintln(os.Stderr, "cert-manager-webhook: --enable-client-verification is not supported by this build")
		cmdutil.SetExitCodeValue(2)
		return
	}
	if cfg.SecurePort == 0 {
		fmt.Fprintln(os.Stderr, "cert-manager-webhook: --secure-port must be given")
		cmdutil.SetExitCodeValue(2)
		return
	}

	ctx = logf.NewContext(ctx, logf.Log, "webhook")
	log := logf.FromContext(ctx)
	v := util.VersionInfo()
	log.Info("starting cert-manager webhook (Ember e2e build)", "version", v.GitVersion, "go_version", v.GoVersion)

	srv, err := cmwebhook.NewCertManagerWebhookServer(log, *cfg)
	if err == nil {
		err = serve(ctx, srv, bindAddress, int(cfg.HealthzPort))
	}
	if err != nil {
		log.Error(err, "error executing command")
		cmdutil.SetExitCode(err)
	}
}

// serve does what server.Server.Run does (the same handlers on /mutate and
// /validate, TLS from the certificate source), listening on host only.
func serve(ctx context.Context, s *server.Server, host string, healthzPort int) error {
	log := logf.FromContext(ctx)
	if s.CertificateSource == nil {
		return errors.New("no TLS certificate: give --tls-cert-file and --tls-private-key-file")
	}
	cipherSuites, err := ciphers.TLSCipherSuites(s.CipherSuites)
	if err != nil {
		return err
	}
	minVersion, err := ciphers.TLSVersion(s.MinTLSVersion)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)

	g.Go(func() error { return s.CertificateSource.Start(ctx) })
	deadline := time.Now().Add(30 * time.Second)
	for !s.CertificateSource.Healthy() {
		if time.Now().After(deadline) {
			cancel()
			_ = g.Wait()
			return errors.New("serving certificate not loaded after 30s")
		}
		select {
		case <-ctx.Done():
			return g.Wait()
		case <-time.After(50 * time.Millisecond):
		}
	}

	whs := crwebhook.NewServer(crwebhook.Options{
		Host: host,
		Port: s.ListenAddr,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.CipherSuites = cipherSuites
			c.MinVersion = minVersion
			c.GetCertificate = s.CertificateSource.GetCertificate
		}},
	})
	whs.Register("/mutate", cmadmission.NewCustomMutationWebhook(s.MutationWebhook))
	whs.Register("/validate", cmadmission.NewCustomValidationWebhook(s.ResourceScheme, s.ValidationWebhook))
	g.Go(func() error { return whs.Start(ctx) })

	if healthzPort != 0 {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			if !s.CertificateSource.Healthy() {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		hs := &http.Server{Addr: net.JoinHostPort(host, strconv.Itoa(healthzPort)), Handler: mux, ReadHeaderTimeout: 32 * time.Second}
		g.Go(func() error {
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			return hs.Shutdown(sctx) //nolint:contextcheck
		})
		g.Go(func() error {
			log.Info("serving healthz", "address", hs.Addr)
			if err := hs.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}

	if s.MetricsListenAddress != "" && s.MetricsListenAddress != "0" {
		ms, err := metricsserver.NewServer(metricsserver.Options{BindAddress: s.MetricsListenAddress}, nil, nil)
		if err != nil {
			cancel()
			_ = g.Wait()
			return err
		}
		g.Go(func() error { return ms.Start(ctx) })
	}

	return g.Wait()
}
