/*
 * Native CTAP2 client for the benchmark (benches/run.py builds and runs it): libfido2's C API
 * with custom I/O (fido_dev_set_io_functions) moving raw 64-byte CTAPHID reports over a Unix
 * stream socket, the framing of authsim's socket transport (and of the reference
 * authenticator, benches/ref_authenticator.py). No LD_PRELOAD: the I/O functions are this
 * program's own.
 *
 *   ctap_bench SOCKET latency N             N makeCredential, then N getAssertion, one client
 *   ctap_bench SOCKET throughput CLIENTS N  N getAssertion per client, CLIENTS threads at once
 *   ctap_bench floor N IN OUT same|split    the transport's floor: N round trips of IN 64-byte
 *                                           writes answered by OUT reports (written at once, as
 *                                           authsim's device thread writes an answer) from a
 *                                           thread that does nothing else, over a socketpair;
 *                                           both threads pinned to CPU 0 (same) or the client to
 *                                           CPU 0 and the echo to CPU 1 (split): under a
 *                                           hypervisor, waking a thread on another (halted) CPU
 *                                           is most of a round trip
 *
 * Each mode prints one JSON line on stdout: per-operation times in microseconds (latency), or
 * the wall time of the concurrent run (throughput). ES256, no PIN, a non-resident credential,
 * one allowCredentials entry. A request that fails (e.g. a CTAPHID "channel busy" answer
 * while another client's transaction holds a single-token device) is retried on a new
 * connection and counted.
 *
 * Build: gcc -O2 -o ctap_bench ctap_bench.c -lfido2 -lpthread
 */
#define _GNU_SOURCE
#include <fido.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../tests/libfido2/sock_io.h"

#define MAX_RETRIES 1000
#define RP_ID "localhost"

static void *
sock_open(const char *path)
{
	return sock_connect(path);
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void
die(const char *what, int r)
{
	fprintf(stderr, "ctap_bench: %s: %s (%d)\n", what, fido_strerr(r), r);
	exit(1);
}

static fido_dev_t *
open_dev(const char *path)
{
	const fido_dev_io_t io = { sock_open, sock_close, sock_read, sock_write };
	fido_dev_t *dev;
	unsigned tries = 0;
	int r;

	for (;;) {
		if ((dev = fido_dev_new()) == NULL)
			die("fido_dev_new", FIDO_ERR_INTERNAL);
		if ((r = fido_dev_set_io_functions(dev, &io)) != FIDO_OK)
			die("fido_dev_set_io_functions", r);
		if ((r = fido_dev_open(dev, path)) != FIDO_OK)
			die("fido_dev_open", r);
		/*
		 * libfido2 falls back to U2F when the getInfo it sends at open is refused
		 * (CHANNEL_BUSY while another client's transaction runs): this bench measures
		 * CTAP2, so such a handle is opened again.
		 */
		if (fido_dev_is_fido2(dev))
			return dev;
		fido_dev_close(dev);
		fido_dev_free(&dev);
		if (++tries > MAX_RETRIES)
			die("fido_dev_open (CTAP2)", FIDO_ERR_UNSUPPORTED_OPTION);
	}
}

/* Closes *devp and opens the device again: a new connection and channel. */
static void
reopen_dev(fido_dev_t **devp, const char *path)
{
	fido_dev_close(*devp);
	fido_dev_free(devp);
	*devp = open_dev(path);
}

static void
random_cdh(unsigned char cdh[32])
{
	if (getrandom(cdh, 32, 0) != 32)
		die("getrandom", FIDO_ERR_INTERNAL);
}

/* makeCredential; the new credential's id goes to id/id_len when id is not NULL. */
static int
make_cred(fido_dev_t *dev, unsigned long i, unsigned char *id, size_t *id_len)
{
	unsigned char cdh[32];
	char user[32];
	fido_cred_t *cred;
	int r;

	random_cdh(cdh);
	snprintf(user, sizeof(user), "user-%lu", i);
	if ((cred = fido_cred_new()) == NULL)
		return FIDO_ERR_INTERNAL;
	if ((r = fido_cred_set_type(cred, COSE_ES256)) != FIDO_OK ||
	    (r = fido_cred_set_clientdata_hash(cred, cdh, sizeof(cdh))) != FIDO_OK ||
	    (r = fido_cred_set_rp(cred, RP_ID, "bench")) != FIDO_OK ||
	    (r = fido_cred_set_user(cred, (unsigned char *)user, strlen(user), "alice",
	    "Alice", NULL)) != FIDO_OK)
		goto out;
	if ((r = fido_dev_make_cred(dev, cred, NULL)) != FIDO_OK)
		goto out;
	if (id != NULL) {
		if (fido_cred_id_len(cred) > *id_len) {
			r = FIDO_ERR_INTERNAL;
			goto out;
		}
		*id_len = fido_cred_id_len(cred);
		memcpy(id, fido_cred_id_ptr(cred), *id_len);
	}
out:
	fido_cred_free(&cred);
	return r;
}

static int
get_assert(fido_dev_t *dev, const unsigned char *id, size_t id_len)
{
	unsigned char cdh[32];
	fido_assert_t *a;
	int r;

	random_cdh(cdh);
	if ((a = fido_assert_new()) == NULL)
		return FIDO_ERR_INTERNAL;
	if ((r = fido_assert_set_rp(a, RP_ID)) == FIDO_OK &&
	    (r = fido_assert_set_clientdata_hash(a, cdh, sizeof(cdh))) == FIDO_OK &&
	    (r = fido_assert_allow_cred(a, id, id_len)) == FIDO_OK &&
	    (r = fido_dev_get_assert(dev, a, NULL)) == FIDO_OK &&
	    fido_assert_count(a) != 1)
		r = FIDO_ERR_INTERNAL;
	fido_assert_free(&a);
	return r;
}

/*
 * Runs one operation on dev until it succeeds, counting the retries. After a failure the
 * device is opened again (a new connection and channel): the continuation packets of a
 * refused request each draw a CHANNEL_BUSY answer, which would otherwise wait in the socket
 * and be read as the answer to the next request.
 */
#define RETRYING(what, dev, path, call, retries)                               \
	do {                                                                   \
		int r_;                                                        \
		unsigned tries_ = 0;                                           \
		while ((r_ = (call)) != FIDO_OK) {                             \
			if (++tries_ > MAX_RETRIES)                             \
				die(what, r_);                                 \
			reopen_dev(&(dev), (path));                            \
		}                                                              \
		(retries) += tries_;                                           \
	} while (0)

static void
print_samples(const char *name, const double *us, unsigned long n)
{
	unsigned long i;

	printf("\"%s\":[", name);
	for (i = 0; i < n; i++)
		printf("%s%.2f", i ? "," : "", us[i]);
	printf("]");
}

static int
latency(const char *path, unsigned long n)
{
	unsigned char id[1024];
	size_t id_len = sizeof(id);
	unsigned long i, retries = 0;
	double *mc, *ga, t;
	fido_dev_t *dev;

	if ((mc = calloc(n, sizeof(*mc))) == NULL || (ga = calloc(n, sizeof(*ga))) == NULL)
		die("calloc", FIDO_ERR_INTERNAL);
	dev = open_dev(path);
	RETRYING("makeCredential", dev, path, make_cred(dev, 0, id, &id_len), retries);
	for (i = 0; i < 20; i++) /* warm-up */
		RETRYING("getAssertion", dev, path, get_assert(dev, id, id_len), retries);
	for (i = 0; i < n; i++) {
		t = now_us();
		RETRYING("makeCredential", dev, path, make_cred(dev, i + 1, NULL, NULL), retries);
		mc[i] = now_us() - t;
	}
	for (i = 0; i < n; i++) {
		t = now_us();
		RETRYING("getAssertion", dev, path, get_assert(dev, id, id_len), retries);
		ga[i] = now_us() - t;
	}
	fido_dev_close(dev);
	fido_dev_free(&dev);
	printf("{\"mode\":\"latency\",\"n\":%lu,\"retries\":%lu,", n, retries);
	print_samples("make_credential_us", mc, n);
	printf(",");
	print_samples("get_assertion_us", ga, n);
	printf("}\n");
	free(mc);
	free(ga);
	return 0;
}

struct worker {
	pthread_t thread;
	const char *path;
	const unsigned char *id;
	size_t id_len;
	unsigned long n;
	unsigned long retries;
	pthread_barrier_t *ready;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	fido_dev_t *dev = open_dev(w->path);
	unsigned long i;

	for (i = 0; i < 5; i++) /* warm-up */
		RETRYING("getAssertion", dev, w->path, get_assert(dev, w->id, w->id_len), w->retries);
	w->retries = 0;
	pthread_barrier_wait(w->ready);
	for (i = 0; i < w->n; i++)
		RETRYING("getAssertion", dev, w->path, get_assert(dev, w->id, w->id_len), w->retries);
	fido_dev_close(dev);
	fido_dev_free(&dev);
	return NULL;
}

static int
throughput(const char *path, unsigned long clients, unsigned long n)
{
	unsigned char id[1024];
	size_t id_len = sizeof(id);
	unsigned long i, retries = 0;
	pthread_barrier_t ready;
	struct worker *w;
	fido_dev_t *dev;
	double t, secs;

	dev = open_dev(path);
	RETRYING("makeCredential", dev, path, make_cred(dev, 0, id, &id_len), retries);
	fido_dev_close(dev);
	fido_dev_free(&dev);
	if ((w = calloc(clients, sizeof(*w))) == NULL)
		die("calloc", FIDO_ERR_INTERNAL);
	pthread_barrier_init(&ready, NULL, (unsigned)clients + 1);
	for (i = 0; i < clients; i++) {
		w[i] = (struct worker){ .path = path, .id = id, .id_len = id_len, .n = n,
		    .ready = &ready };
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
			die("pthread_create", FIDO_ERR_INTERNAL);
	}
	pthread_barrier_wait(&ready);
	t = now_us();
	retries = 0;
	for (i = 0; i < clients; i++) {
		pthread_join(w[i].thread, NULL);
		retries += w[i].retries;
	}
	secs = (now_us() - t) / 1e6;
	printf("{\"mode\":\"throughput\",\"clients\":%lu,\"assertions\":%lu,\"seconds\":%.6f,"
	    "\"assertions_per_s\":%.1f,\"retries\":%lu}\n", clients, clients * n, secs,
	    (double)(clients * n) / secs, retries);
	pthread_barrier_destroy(&ready);
	free(w);
	return 0;
}

struct echo {
	int fd;
	unsigned long in, out;
};

/* Reads IN reports, answers OUT reports in one write, until the peer goes. */
static void *
echo_main(void *arg)
{
	struct echo *e = arg;
	unsigned char report[64], *answer;

	if ((answer = calloc(e->out, 64)) == NULL)
		return NULL;
	for (;;) {
		for (unsigned long i = 0; i < e->in; i++)
			if (recv(e->fd, report, sizeof(report), MSG_WAITALL) != 64)
				goto out;
		if (write(e->fd, answer, e->out * 64) != (ssize_t)(e->out * 64))
			goto out;
	}
out:
	free(answer);
	return NULL;
}

/* Pins `thread` to one CPU. */
static int
pin(pthread_t thread, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(thread, sizeof(set), &set);
}

static int
floor_rtt(unsigned long n, unsigned long in, unsigned long out, int split)
{
	int sv[2];
	pthread_t thread;
	struct echo e;
	unsigned char report[64];
	double t0;

	memset(report, 0, sizeof(report));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 1;
	e = (struct echo){ .fd = sv[1], .in = in, .out = out };
	if (pthread_create(&thread, NULL, echo_main, &e) != 0)
		return 1;
	if (pin(pthread_self(), 0) != 0 || pin(thread, split ? 1 : 0) != 0) {
		fprintf(stderr, "ctap_bench: cannot pin the threads to CPU 0%s\n",
		    split ? " and CPU 1" : "");
		return 1;
	}
	printf("{\"mode\":\"floor\",\"n\":%lu,\"in\":%lu,\"out\":%lu,\"cpus\":\"%s\","
	    "\"round_trip_us\":[", n, in, out, split ? "split" : "same");
	for (unsigned long k = 0; k < n; k++) {
		t0 = now_us();
		/* One write per report and one read per report, as sock_io.h does for libfido2. */
		for (unsigned long i = 0; i < in; i++)
			if (write(sv[0], report, sizeof(report)) != 64)
				return 1;
		for (unsigned long i = 0; i < out; i++)
			if (recv(sv[0], report, sizeof(report), MSG_WAITALL) != 64)
				return 1;
		printf("%s%.2f", k ? "," : "", now_us() - t0);
	}
	printf("]}\n");
	close(sv[0]);
	pthread_join(thread, NULL);
	close(sv[1]);
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned long a, b;

	fido_init(0);
	if (argc == 4 && strcmp(argv[2], "latency") == 0 &&
	    (a = strtoul(argv[3], NULL, 10)) > 0)
		return latency(argv[1], a);
	if (argc == 5 && strcmp(argv[2], "throughput") == 0 &&
	    (a = strtoul(argv[3], NULL, 10)) > 0 && (b = strtoul(argv[4], NULL, 10)) > 0)
		return throughput(argv[1], a, b);
	if (argc == 6 && strcmp(argv[1], "floor") == 0 &&
	    (a = strtoul(argv[2], NULL, 10)) > 0 && (b = strtoul(argv[3], NULL, 10)) > 0 &&
	    strtoul(argv[4], NULL, 10) > 0 &&
	    (strcmp(argv[5], "same") == 0 || strcmp(argv[5], "split") == 0))
		return floor_rtt(a, b, strtoul(argv[4], NULL, 10), strcmp(argv[5], "split") == 0);
	fprintf(stderr, "usage: ctap_bench SOCKET latency N | SOCKET throughput CLIENTS N | "
	    "floor N IN OUT same|split\n");
	return 2;
}
