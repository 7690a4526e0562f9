/*
 * libfido2 custom I/O (fido_dev_set_io_functions) over authsim's Unix socket transport: raw
 * 64-byte HID reports, back to back, in both directions. Shared by the LD_PRELOAD shim of
 * the libfido2 tool tests (tests/libfido2/shim.c) and the native benchmark client
 * (benches/native/ctap_bench.c), so the two drive the key the same way.
 *
 * Include after <fido.h> with _GNU_SOURCE defined. Every function is static: each program
 * gets its own copy and the header needs no object file.
 */
#ifndef AUTHSIM_SOCK_IO_H
#define AUTHSIM_SOCK_IO_H

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SOCK_IO_REPORT_LEN 64

struct sock_dev {
	int fd;
};

/* Connects to the socket at path; NULL when the path is too long or nobody listens. */
static void *
sock_connect(const char *path)
{
	struct sockaddr_un sa;
	struct sock_dev *d;

	if (strlen(path) >= sizeof(sa.sun_path))
		return NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
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

	if (len < SOCK_IO_REPORT_LEN)
		return -1;
	while (got < SOCK_IO_REPORT_LEN) {
		/* Try the read first: the answer is usually there already (one syscall). */
		n = recv(d->fd, buf + got, SOCK_IO_REPORT_LEN - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -1;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		pfd.fd = d->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, ms) <= 0)
			return -1;
	}
	return SOCK_IO_REPORT_LEN;
}

/* libfido2 writes a report-id byte (0) before the 64-byte report; the socket takes none. */
static int
sock_write(void *handle, const unsigned char *buf, size_t len)
{
	struct sock_dev *d = handle;
	const unsigned char *p = buf;
	size_t left = len;
	ssize_t n;

	if (len == SOCK_IO_REPORT_LEN + 1 && buf[0] == 0) {
		p++;
		left--;
	}
	if (left != SOCK_IO_REPORT_LEN)
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

#endif
