/*
 * LD_PRELOAD shim that lets libfido2's unmodified tools (fido2-token, fido2-cred,
 * fido2-assert) reach authsim's Unix socket transport: a device path "sock:/path/to.sock"
 * is opened with custom I/O functions (fido_dev_set_io_functions) that move raw 64-byte
 * HID reports over the socket; every other path goes to libfido2 unchanged.
 *
 * Built by tests/py/test_fido_libfido2.py:  cc -shared -fPIC shim.c -o shim.so -lfido2 -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fido.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REPORT_LEN 64
#define PREFIX "sock:"

struct sock_dev {
	int fd;
};

static void *
sock_open(const char *path)
{
	struct sockaddr_un sa;
	struct sock_dev *d;
	const char *p;

	if (strncmp(path, PREFIX, strlen(PREFIX)) != 0)
		return NULL;
	p = path + strlen(PREFIX);
	if (strlen(p) >= sizeof(sa.sun_path))
		return NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, p);
	if ((d->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (d->fd >= 0)
			close(d->fd);
		free(d);
		return NULL;
	}
	return d;
}

static void
sock_close(void *handle)
{
	struct sock_dev *d = handle;

	close(d->fd);
	free(d);
}

/* One input report: exactly 64 bytes, waiting at most ms milliseconds (-1: forever). */
static int
sock_read(void *handle, unsigned char *buf, size_t len, int ms)
{
	struct sock_dev *d = handle;
	struct pollfd pfd;
	size_t got = 0;
	ssize_t n;

	if (len < REPORT_LEN)
		return -1;
	while (got < REPORT_LEN) {
		pfd.fd = d->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, ms) <= 0)
			return -1;
		n = read(d->fd, buf + got, REPORT_LEN - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return REPORT_LEN;
}

/* libfido2 writes a report-id byte (0) before the 64-byte report; the socket takes none. */
static int
sock_write(void *handle, const unsigned char *buf, size_t len)
{
	struct sock_dev *d = handle;
	const unsigned char *p = buf;
	size_t left = len;
	ssize_t n;

	if (len == REPORT_LEN + 1 && buf[0] == 0) {
		p++;
		left--;
	}
	if (left != REPORT_LEN)
		return -1;
	while (left > 0) {
		n = write(d->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		left -= (size_t)n;
	}
	return (int)len;
}

int
fido_dev_open(fido_dev_t *dev, const char *path)
{
	static int (*real_open)(fido_dev_t *, const char *);
	const fido_dev_io_t io = { sock_open, sock_close, sock_read, sock_write };
	int r;

	if (real_open == NULL &&
	    (real_open = (int (*)(fido_dev_t *, const char *))dlsym(RTLD_NEXT,
	    "fido_dev_open")) == NULL)
		return FIDO_ERR_INTERNAL;
	if (path != NULL && strncmp(path, PREFIX, strlen(PREFIX)) == 0 &&
	    (r = fido_dev_set_io_functions(dev, &io)) != FIDO_OK)
		return r;
	return real_open(dev, path);
}
