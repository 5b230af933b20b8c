// Command cert-manager-controller runs cert-manager's own controllers, as
// cert-manager v1.21's cmd/controller does, for Ember's end-to-end tests.
//
// It is test harness code only: it links the cert-manager library
// (github.com/cert-manager/cert-manager at the version in go.mod) and wires
// its controllers the way cert-manager's controller main does: a
// pkg/controller ContextFactory, the constructors registered with
// pkg/controller.Register (controller.Known()), shared informer factories
// started after every enabled controller has registered its informers.
//
// Only the controllers Ember's tests need are linked in (cert-manager's own
// main links ACME, Vault and Venafi too, and Venafi's vcert module is not
// available from the module proxy):
//
//	certificates-trigger, certificates-issuing, certificates-key-manager,
//	certificates-request-manager, certificates-readiness,
//	certificates-revision-manager   (the Certificate life cycle)
//	certificaterequests-approver    (cert-manager's approver)
//	issuers, clusterissuers,
//	certificaterequests-issuer-ca   (the CA issuer, for comparison)
//	certificaterequests-issuer-selfsigned (linked, not in '*')
//
// The command line mirrors cert-manager's flags of the same names; the
// defaults are cert-manager's except --leader-elect (false) and the metrics
// and healthz addresses (off unless given, loopback expected).
package main

import (
	"github.com/cert-manager/cert-manager/ember-e2e/gates"

	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"

	cmdutil "github.com/cert-manager/cert-manager/internal/cmd/util"
	_ "github.com/cert-manager/cert-manager/internal/controller/feature" // registers the controller's gates
	"github.com/cert-manager/cert-manager/internal/pem"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager"
	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	// The controllers: each package registers its constructor with
	// controller.Register in an init function.
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"

	// Issuer types the issuers/clusterissuers controllers can set up.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// defaultControllers is what '*' stands for (cert-manager's '*' means its
// DefaultEnabledControllers; here, the subset of those this binary links).
var defaultControllers = []string{
	trigger.ControllerName,
	issuing.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
	crapprover.ControllerName,
	issuers.ControllerName,
	clusterissuers.ControllerName,
	crca.CRControllerName,
}

// optionalControllers are linked but only run when named.
var optionalControllers = []string{
	crselfsigned.CRControllerName,
}

type options struct {
	apiServerHost            string
	kubeconfig               string
	qps                      float32
	burst                    int
	namespace                string
	clusterResourceNamespace string
	controllers              []string
	workers                  int
	featureGates             map[string]bool

	leaderElect          bool
	leaderElectNamespace string
	leaseDuration        time.Duration
	renewDeadline        time.Duration
	retryPeriod          time.Duration
	healthzLETimeout     time.Duration

	metricsAddress string
	healthzAddress string

	issuerAmbientCredentials        bool
	clusterIssuerAmbientCredentials bool
	enableCertificateOwnerRef       bool
	copiedAnnotationPrefixes        []string
	crMinBackoff                    time.Duration
	crMaxBackoff                    time.Duration

	maxCertificateSize int
	maxPrivateKeySize  int
	maxChainLength     int
	maxBundleSize      int

	logging logsapi.LoggingConfiguration
}

// newOptions returns cert-manager v1.21's controller defaults
// (internal/apis/config/controller/v1alpha1 and .../shared/v1alpha1), with
// leader election off and the listeners off.
func newOptions() *options {
	o := &options{
		qps:                             20,
		burst:                           50,
		clusterResourceNamespace:        "kube-system",
		controllers:                     []string{"*"},
		workers:                         5,
		featureGates:                    map[string]bool{},
		leaderElect:                     false,
		leaderElectNamespace:            "kube-system",
		leaseDuration:                   60 * time.Second,
		renewDeadline:                   40 * time.Second,
		retryPeriod:                     15 * time.Second,
		healthzLETimeout:                20 * time.Second,
		metricsAddress:                  "0",
		healthzAddress:                  "0",
		issuerAmbientCredentials:        false,
		clusterIssuerAmbientCredentials: true,
		copiedAnnotationPrefixes:        []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
		crMinBackoff:                    time.Hour,
		crMaxBackoff:                    32 * time.Hour,
		maxCertificateSize:              36500,
		maxPrivateKeySize:               13000,
		maxChainLength:                  95000,
		maxBundleSize:                   330000,
	}
	logsapi.SetRecommendedLoggingConfiguration(&o.logging)
	return o
}

func (o *options) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.apiServerHost, "master", o.apiServerHost, "API server address (overrides the kubeconfig's)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", o.kubeconfig, "path to a kubeconfig")
	fs.Float32Var(&o.qps, "kube-api-qps", o.qps, "client-side QPS towards the API server (unused when the API server has API Priority and Fairness on: cert-manager then turns client-side limiting off)")
	fs.IntVar(&o.burst, "kube-api-burst", o.burst, "client-side burst towards the API server (see --kube-api-qps)")
	fs.StringVar(&o.namespace, "namespace", o.namespace, "watch only this namespace (disables cluster-scoped controllers)")
	fs.StringVar(&o.clusterResourceNamespace, "cluster-resource-namespace", o.clusterResourceNamespace, "namespace of Secrets referenced by ClusterIssuers")
	all := append(slices.Clone(defaultControllers), optionalControllers...)
	fs.StringSliceVar(&o.controllers, "controllers", o.controllers,
		"controllers to run: '*' = "+strings.Join(defaultControllers, ",")+
			"; 'name' adds one, '-name' removes one. Linked: "+strings.Join(all, ","))
	fs.IntVar(&o.workers, "concurrent-workers", o.workers, "workers per controller")
	fs.Var(cliflag.NewMapStringBool(&o.featureGates), "feature-gates",
		"key=value pairs of feature gates (OtherNames, LiteralCertificateSubject and NameConstraints are on by default here). Known:\n"+
			strings.Join(utilfeature.DefaultFeatureGate.KnownFeatures(), "\n"))

	fs.BoolVar(&o.leaderElect, "leader-elect", o.leaderElect, "take part in leader election (Lease cert-manager-controller)")
	fs.StringVar(&o.leaderElectNamespace, "leader-election-namespace", o.leaderElectNamespace, "namespace of the leader election Lease")
	fs.DurationVar(&o.leaseDuration, "leader-election-lease-duration", o.leaseDuration, "leader election lease duration")
	fs.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", o.renewDeadline, "leader election renew deadline")
	fs.DurationVar(&o.retryPeriod, "leader-election-retry-period", o.retryPeriod, "leader election retry period")

	fs.StringVar(&o.metricsAddress, "metrics-listen-address", o.metricsAddress, "host:port for Prometheus metrics (plain HTTP); '0' or '' = off")
	fs.StringVar(&o.healthzAddress, "internal-healthz-listen-address", o.healthzAddress, "host:port for /livez; '0' or '' = off")
	fs.StringVar(&o.healthzAddress, "healthz-listen-address", o.healthzAddress, "alias of --internal-healthz-listen-address")

	fs.BoolVar(&o.issuerAmbientCredentials, "issuer-ambient-credentials", o.issuerAmbientCredentials, "let Issuers use ambient credentials")
	fs.BoolVar(&o.clusterIssuerAmbientCredentials, "cluster-issuer-ambient-credentials", o.clusterIssuerAmbientCredentials, "let ClusterIssuers use ambient credentials")
	fs.BoolVar(&o.enableCertificateOwnerRef, "enable-certificate-owner-ref", o.enableCertificateOwnerRef, "make the Certificate an owner of its Secret")
	fs.StringSliceVar(&o.copiedAnnotationPrefixes, "copied-annotation-prefixes", o.copiedAnnotationPrefixes, "annotation prefixes copied from Certificate to CertificateRequest")
	fs.DurationVar(&o.crMinBackoff, "certificate-request-minimum-backoff-duration", o.crMinBackoff, "minimum back-off after a failed CertificateRequest")
	fs.DurationVar(&o.crMaxBackoff, "certificate-request-maximum-backoff-duration", o.crMaxBackoff, "maximum back-off after failed CertificateRequests")

	fs.IntVar(&o.maxCertificateSize, "max-certificate-size", o.maxCertificateSize, "maximum PEM certificate size")
	fs.IntVar(&o.maxPrivateKeySize, "max-private-key-size", o.maxPrivateKeySize, "maximum PEM private key size")
	fs.IntVar(&o.maxChainLength, "max-certificate-chain-length", o.maxChainLength, "maximum PEM chain size in bytes")
	fs.IntVar(&o.maxBundleSize, "max-certificate-bundle-size", o.maxBundleSize, "maximum PEM bundle size")

	// -v, --vmodule, --logging-format, plus klog's hidden legacy flags.
	logf.AddFlags(&o.logging, fs)
}

// enabledControllers applies cert-manager's --controllers syntax.
func (o *options) enabledControllers() (sets.Set[string], error) {
	known := controller.Known()
	enabled := sets.New[string]()
	var disabled []string
	for _, c := range o.controllers {
		c = strings.TrimSpace(c)
		switch {
		case c == "":
		case c == "*":
			enabled.Insert(defaultControllers...)
		case strings.HasPrefix(c, "-"):
			disabled = append(disabled, strings.TrimPrefix(c, "-"))
		default:
			if _, ok := known[c]; !ok {
				return nil, fmt.Errorf("--controllers: %q is not linked into this binary (linked: %s)",
					c, strings.Join(sets.List(sets.KeySet(known)), ", "))
			}
			enabled.Insert(c)
		}
	}
	// Only removals given: '*' is implied, as in cert-manager.
	if len(disabled) > 0 && enabled.Len() == 0 {
		enabled.Insert(defaultControllers...)
	}
	if o.namespace != "" {
		enabled.Delete(clusterissuers.ControllerName)
	}
	enabled.Delete(disabled...)
	return enabled, nil
}

func listenAddressOff(a string) bool { return a == "" || a == "0" }

func main() {
	ctx, exit := cmdutil.SetupExitHandler(context.Background(), cmdutil.GracefulShutdown)
	defer exit() // may call os.Exit: deferred first so it runs last

	logf.InitLogs()
	defer logf.FlushLogs()

	opts := newOptions()
	fs := pflag.NewFlagSet("cert-manager-controller", pflag.ContinueOnError)
	opts.addFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		cmdutil.SetExitCodeValue(2)
		return
	}

	if err := setup(opts); err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-controller:", err)
		cmdutil.SetExitCodeValue(2)
		return
	}

	ctx = logf.NewContext(ctx, logf.Log, "controller")
	if err := run(ctx, opts); err != nil {
		logf.Log.Error(err, "error executing command")
		cmdutil.SetExitCode(err)
	}
}

// setup applies the feature gates and logging configuration and checks the
// options, as cert-manager's PreRunE does.
func setup(o *options) error {
	if err := gates.Apply(o.featureGates); err != nil {
		return err
	}
	if err := logf.ValidateAndApply(&o.logging); err != nil {
		return fmt.Errorf("logging flags: %w", err)
	}
	if o.workers < 1 {
		return fmt.Errorf("--concurrent-workers must be at least 1")
	}
	if o.clusterResourceNamespace == "" {
		return fmt.Errorf("--cluster-resource-namespace must not be empty")
	}
	if o.leaderElect && !(o.leaseDuration > o.renewDeadline && o.renewDeadline > o.retryPeriod && o.retryPeriod > 0) {
		return fmt.Errorf("leader election needs lease-duration > renew-deadline > retry-period > 0")
	}
	if o.crMinBackoff <= 0 || o.crMaxBackoff < o.crMinBackoff {
		return fmt.Errorf("CertificateRequest back-off: need 0 < minimum <= maximum")
	}
	if o.maxCertificateSize <= 0 || o.maxPrivateKeySize <= 0 || o.maxChainLength <= 0 || o.maxBundleSize <= 0 ||
		o.maxCertificateSize > o.maxBundleSize || o.maxChainLength > o.maxBundleSize {
		return fmt.Errorf("PEM size limits: all must be > 0, certificate and chain <= bundle")
	}
	return nil
}

func run(rootCtx context.Context, o *options) error {
	rootCtx, cancel := context.WithCancel(rootCtx)
	defer cancel()
	log := logf.FromContext(rootCtx)
	g, rootCtx := errgroup.WithContext(rootCtx)

	v := util.VersionInfo()
	log.Info("starting cert-manager controller (Ember e2e build)", "version", v.GitVersion, "go_version", v.GoVersion)

	enabled, err := o.enabledControllers()
	if err != nil {
		return err
	}
	log.Info(fmt.Sprintf("enabled controllers: %s", sets.List(enabled)))

	pem.SetGlobalSizeLimits(pem.NewSizeLimitsFromConfig(o.maxCertificateSize, o.maxPrivateKeySize, o.maxChainLength, o.maxBundleSize))

	ctxFactory, err := controller.NewContextFactory(rootCtx, controller.ContextOptions{
		Kubeconfig:         o.kubeconfig,
		APIServerHost:      o.apiServerHost,
		KubernetesAPIQPS:   o.qps,
		KubernetesAPIBurst: o.burst,
		Namespace:          o.namespace,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace:        o.clusterResourceNamespace,
			IssuerAmbientCredentials:        o.issuerAmbientCredentials,
			ClusterIssuerAmbientCredentials: o.clusterIssuerAmbientCredentials,
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerKind:  "Issuer",
			DefaultIssuerGroup: cmapi.GroupName,
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           o.enableCertificateOwnerRef,
			CopiedAnnotationPrefixes:                 o.copiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: o.crMinBackoff,
			CertificateRequestMaximumBackoffDuration: o.crMaxBackoff,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: 60},
	})
	if err != nil {
		return err
	}
	ctx, err := ctxFactory.Build()
	if err != nil {
		return err
	}

	if !listenAddressOff(o.metricsAddress) {
		ln, err := (&net.ListenConfig{}).Listen(rootCtx, "tcp", o.metricsAddress)
		if err != nil {
			return fmt.Errorf("metrics listener %s: %w", o.metricsAddress, err)
		}
		ctx.Metrics.SetupCertificateCollector(ctx.SharedInformerFactory.Certmanager().V1().Certificates().Lister())
		ctx.Metrics.SetupIssuerCollector(ctx.SharedInformerFactory.Certmanager().V1().Issuers().Lister())
		if enabled.Has(clusterissuers.ControllerName) {
			ctx.Metrics.SetupClusterIssuerCollector(ctx.SharedInformerFactory.Certmanager().V1().ClusterIssuers().Lister())
		}
		srv := ctx.Metrics.NewServer(ln)
		g.Go(func() error {
			<-rootCtx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			return srv.Shutdown(sctx) //nolint:contextcheck
		})
		g.Go(func() error {
			log.Info("serving metrics", "address", ln.Addr().String())
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}

	hz := healthz.NewServer(o.healthzLETimeout)
	if !listenAddressOff(o.healthzAddress) {
		ln, err := (&net.ListenConfig{}).Listen(rootCtx, "tcp", o.healthzAddress)
		if err != nil {
			return fmt.Errorf("healthz listener %s: %w", o.healthzAddress, err)
		}
		g.Go(func() error {
			log.Info("serving healthz", "address", ln.Addr().String())
			return hz.Start(rootCtx, ln)
		})
	}

	elected := make(chan struct{})
	if o.leaderElect {
		g.Go(func() error { return leaderElect(rootCtx, o, ctxFactory, hz, elected) })
	} else {
		close(elected)
	}
	select {
	case <-rootCtx.Done():
		return g.Wait()
	case <-elected:
	}

	// Construct every enabled controller first (each registers the
	// informers it needs), then start the shared informer factories.
	for name, construct := range controller.Known() {
		if !enabled.Has(name) {
			continue
		}
		clog := log.WithValues("controller", name)
		iface, err := construct(ctxFactory)
		if err != nil {
			cancel()
			_ = g.Wait()
			return fmt.Errorf("error starting controller %s: %w", name, err)
		}
		g.Go(func() error {
			clog.Info("starting controller")
			return iface.Run(o.workers, rootCtx)
		})
	}

	ctx.SharedInformerFactory.Start(rootCtx.Done())
	ctx.KubeSharedInformerFactory.Start(rootCtx.Done())
	ctx.HTTP01ResourceMetadataInformersFactory.Start(rootCtx.Done())

	err = g.Wait()
	ctx.HTTP01ResourceMetadataInformersFactory.Shutdown()
	ctx.KubeSharedInformerFactory.Shutdown()
	ctx.SharedInformerFactory.Shutdown()
	if err != nil {
		return fmt.Errorf("error running controllers: %w", err)
	}
	log.Info("control loops exited")
	return nil
}

// leaderElect takes the cert-manager-controller Lease, as cert-manager does,
// closing elected once leading; losing the lease is an error.
func leaderElect(ctx context.Context, o *options, f *controller.ContextFactory, hz *healthz.Server, elected chan struct{}) error {
	lctx, err := f.Build("leader-election")
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	lock, err := resourcelock.NewWithLabels(resourcelock.LeasesResourceLock,
		o.leaderElectNamespace, "cert-manager-controller",
		lctx.Client.CoreV1(), lctx.Client.CoordinationV1(),
		resourcelock.ResourceLockConfig{
			Identity:      fmt.Sprintf("%s-%d-external-cert-manager-controller", host, os.Getpid()),
			EventRecorder: lctx.Recorder,
		},
		map[string]string{"app.kubernetes.io/managed-by": "cert-manager"})
	if err != nil {
		return err
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.leaseDuration,
		RenewDeadline:   o.renewDeadline,
		RetryPeriod:     o.retryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        hz.LeaderHealthzAdaptor,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(elected) },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return err
	}
	le.Run(ctx) // returns when ctx ends or the lease is lost
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("leader election lost")
}
