/*
 * LD_PRELOAD shim that lets libfido2's unmodified tools (fido2-token, fido2-cred,
 * fido2-assert) reach authsim's Unix socket transport: a device path "sock:/path/to.sock"
 * is opened with custom I/O functions (fido_dev_set_io_functions) that move raw 64-byte
 * HID reports over the socket; every other path goes to libfido2 unchanged.
 *
 * The socket I/O itself is in sock_io.h, shared with the native benchmark client.
 *
 * Built by tests/py/test_fido_libfido2.py:  cc -shared -fPIC shim.c -o shim.so -lfido2 -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fido.h>
#include <string.h>

#include "sock_io.h"

#define PREFIX "sock:"

/* Opens "sock:/path/to.sock"; NULL for any other path. */
static void *
sock_open(const char *path)
{
	if (strncmp(path, PREFIX, strlen(PREFIX)) != 0)
		return NULL;
	return sock_connect(path + strlen(PREFIX));
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
