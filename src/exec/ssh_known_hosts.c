/*
 * ssh_known_hosts.c - host-key trust for the SSH transport: OpenSSH
 * known_hosts files checked (and, with --accept-new-host-keys, extended)
 * through libssh2's knownhost API, every decision reported for the audit.
 *
 * Files are parsed once per pool and shared by all hosts naming them. We
 * feed libssh2 one line at a time instead of libssh2_knownhost_readfile(),
 * which stops at the first line it cannot parse (an sk-ed25519 key, a
 * @cert-authority line) and would hide every entry after it; this also
 * gives each entry its line number for messages. Hosts are looked up by
 * the exact name OpenSSH uses ("address", or "[address]:port" off port
 * 22) with libssh2_knownhost_check(), not _checkp(), which would let a
 * plain "address" entry vouch for every port.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "exec/ssh_int.h"
#include "runbook/buf.h"
#include "runbook/evloop.h"
#include "runbook/banned.h"

/* Refuse known_hosts files larger than this. */
#define KH_MAX_SIZE (64 * 1024 * 1024)

/* The host key types libssh2 1.10 can verify, in our order of preference. */
static const struct keytype {
	int hostkey;	  /* LIBSSH2_HOSTKEY_TYPE_* */
	int mask;	  /* LIBSSH2_KNOWNHOST_KEY_* */
	const char *name; /* the algorithm / known_hosts type name */
	const char *scan; /* ssh-keyscan -t and key file name part */
} keytypes[] = {
	{ LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519,
	    "ssh-ed25519", "ed25519" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256,
	    "ecdsa-sha2-nistp256", "ecdsa" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384,
	    "ecdsa-sha2-nistp384", "ecdsa" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521,
	    "ecdsa-sha2-nistp521", "ecdsa" },
	{ LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa",
	    "rsa" },
};

/* A libssh2 entry and the file line it came from. */
struct kh_entry {
	struct libssh2_knownhost *e;
	int line;
};

/* A revoked key: "@revoked pattern type base64". */
struct kh_revoked {
	char *b64;
	int line;
};

/* One parsed known_hosts file. */
struct kh_file {
	char *path;
	LIBSSH2_KNOWNHOSTS *kh;
	struct kh_entry *ent;
	size_t nent, ent_alloc;
	struct libssh2_knownhost *last; /* the newest entry, for _get() */
	struct kh_revoked *rev;
	size_t nrev, rev_alloc;
	int nlines; /* lines in the file, appended ones included */
	bool exists;
	struct rb_error load_err; /* code != 0: the file cannot be used */
};

/* ------------------------------------------------------------- helpers */

static const struct keytype *
keytype_by_hostkey(int type)
{
	size_t i;

	for (i = 0; i < RB_ARRAY_SIZE(keytypes); i++)
		if (keytypes[i].hostkey == type)
			return &keytypes[i];
	return NULL;
}

/* Standard base64 of len bytes, NUL-terminated, malloc'd. */
static char *
base64(const void *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* "SHA256:<base64 without padding>", as ssh-keygen -l prints it. */
static void
fingerprint(char *out, size_t outsz, LIBSSH2_SESSION *s)
{
	const char *hash = libssh2_hostkey_hash(s, LIBSSH2_HOSTKEY_HASH_SHA256);
	char *b;
	size_t n;

	if (hash == NULL) {
		snprintf(out, outsz, "SHA256:(unavailable)");
		return;
	}
	b = base64(hash, 32);
	n = strlen(b);
	while (n > 0 && b[n - 1] == '=')
		b[--n] = '\0';
	snprintf(out, outsz, "SHA256:%s", b);
	free(b);
}

/* Record every entry libssh2 added since the last call as coming from line. */
static void
note_new_entries(struct kh_file *kf, int line)
{
	struct libssh2_knownhost *e;

	while (libssh2_knownhost_get(kf->kh, &e, kf->last) == 0) {
		RB_ALLOC_GROW(kf->ent, kf->nent + 1, kf->ent_alloc);
		kf->ent[kf->nent].e = e;
		kf->ent[kf->nent].line = line;
		kf->nent++;
		kf->last = e;
	}
}

/* The line an entry came from, or 0. */
static int
entry_line(const struct kh_file *kf, const struct libssh2_knownhost *e)
{
	size_t i;

	for (i = 0; e != NULL && i < kf->nent; i++)
		if (kf->ent[i].e == e)
			return kf->ent[i].line;
	return 0;
}

/* Parse "@revoked pattern type base64 [comment]" into kf->rev. */
static void
parse_revoked(struct kh_file *kf, const char *p, size_t len, int line)
{
	const char *end = p + len, *f[4];
	size_t flen[4];
	int i;

	for (i = 0; i < 4; i++) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		f[i] = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		flen[i] = (size_t)(p - f[i]);
		if (flen[i] == 0)
			return; /* malformed: ignored, like OpenSSH */
	}
	RB_ALLOC_GROW(kf->rev, kf->nrev + 1, kf->rev_alloc);
	kf->rev[kf->nrev].b64 = xstrndup(f[3], flen[3]);
	kf->rev[kf->nrev].line = line;
	kf->nrev++;
}

/*
 * Give one line (without its newline) to libssh2, which, like
 * libssh2_knownhost_readfile() feeding it fgets() lines, expects the line
 * to end in a newline and takes the last byte off the key otherwise.
 */
static int
readline(struct kh_file *kf, const char *p, size_t len)
{
	char *copy = xmalloc(len + 2);
	int r;

	memcpy(copy, p, len);
	copy[len] = '\n';
	copy[len + 1] = '\0';
	r = libssh2_knownhost_readline(
	    kf->kh, copy, len + 1, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	free(copy);
	return r;
}

/* Read path into a new kh_file; problems are kept in load_err. */
static struct kh_file *
kh_load(struct rb_ssh_pool *pool, const char *path)
{
	struct kh_file *kf = xcalloc(1, sizeof(*kf));
	struct rb_buf b = RB_BUF_INIT;
	const char *p, *end;
	int r, line = 0;

	kf->path = xstrdup(path);
	kf->kh = libssh2_knownhost_init(pool->kh_session);
	if (kf->kh == NULL) {
		rb_error_set(&kf->load_err, RB_ERROR,
		    "cannot check host keys: libssh2 is out of memory");
		goto out;
	}
	r = rb_buf_read_file(&b, path, KH_MAX_SIZE);
	if (r == RB_ENOTFOUND)
		goto out; /* no file: nothing is known */
	if (r == RB_ETOOBIG) {
		rb_error_set(&kf->load_err, RB_ERROR,
		    "known_hosts file '%s' is larger than %d MiB", path,
		    KH_MAX_SIZE / (1024 * 1024));
		goto out;
	}
	if (r != 0) {
		rb_error_set(&kf->load_err, RB_ERROR,
		    "cannot read known_hosts file '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	kf->exists = true;
	for (p = b.buf, end = b.buf + b.len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;
		size_t len;

		line++;
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		len = (size_t)(eol - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len == 0 || *p == '#') {
			/* blank or comment */
		} else if (*p == '@') {
			if (len > 9 && strncmp(p, "@revoked", 8) == 0 &&
			    (p[8] == ' ' || p[8] == '\t'))
				parse_revoked(kf, p + 9, len - 9, line);
			/* @cert-authority: certificates are not supported */
		} else if (readline(kf, p, len) == 0) {
			note_new_entries(kf, line);
		}
		/* A line libssh2 cannot parse (a key type it does not know)
		 * is skipped; it could never match a key we can verify. */
		p = nl != NULL ? nl + 1 : end;
	}
	kf->nlines = line;
out:
	rb_buf_release(&b);
	return kf;
}

/* The cached parse of path, loading it on first use. */
static struct kh_file *
kh_get(struct rb_ssh_pool *pool, const char *path)
{
	struct kh_file *kf;
	size_t i;

	for (i = 0; i < pool->nkh; i++)
		if (strcmp(pool->kh[i]->path, path) == 0)
			return pool->kh[i];
	kf = kh_load(pool, path);
	RB_ALLOC_GROW(pool->kh, pool->nkh + 1, pool->kh_alloc);
	pool->kh[pool->nkh++] = kf;
	return kf;
}

void
ssh_kh_free_all(struct rb_ssh_pool *pool)
{
	size_t i, j;

	for (i = 0; i < pool->nkh; i++) {
		struct kh_file *kf = pool->kh[i];

		if (kf->kh != NULL)
			libssh2_knownhost_free(kf->kh);
		for (j = 0; j < kf->nrev; j++)
			free(kf->rev[j].b64);
		free(kf->rev);
		free(kf->ent);
		free(kf->path);
		free(kf);
	}
	free(pool->kh);
	pool->kh = NULL;
	pool->nkh = pool->kh_alloc = 0;
}

/* Whether kf has a key of type kt for name (a dummy key never matches). */
static bool
type_known(struct kh_file *kf, const char *name, const struct keytype *kt)
{
	return libssh2_knownhost_check(kf->kh, name, "x", 1,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
	    kt->mask, NULL) == LIBSSH2_KNOWNHOST_CHECK_MISMATCH;
}

char *
ssh_hostkey_prefs(struct ssh_host *h)
{
	struct kh_file *kf = kh_get(h->pool, h->known_hosts);
	struct rb_buf b = RB_BUF_INIT;
	bool taken[RB_ARRAY_SIZE(keytypes)] = { false };
	size_t i;

	/* Like OpenSSH: ask for the types we already know for this host, so
	 * a server with several host keys shows the one we can check. */
	for (i = 0; kf->kh != NULL && i < RB_ARRAY_SIZE(keytypes); i++) {
		if (type_known(kf, h->hostport, &keytypes[i])) {
			rb_buf_addf(
			    &b, "%s%s", b.len ? "," : "", keytypes[i].name);
			taken[i] = true;
		}
	}
	for (i = 0; i < RB_ARRAY_SIZE(keytypes); i++)
		if (!taken[i])
			rb_buf_addf(
			    &b, "%s%s", b.len ? "," : "", keytypes[i].name);
	return rb_buf_detach(&b, NULL);
}

/* Append one line to kf's file, creating it (and its directory) 0600. */
static int
kh_append(
    struct kh_file *kf, const char *text, size_t len, struct rb_error *err)
{
	struct stat st;
	char last = '\n';
	int fd, r = RB_ERROR;
	size_t off = 0;

	fd = open(kf->path,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0 && errno == ENOENT) {
		char *dir = xstrdup(kf->path), *slash = strrchr(dir, '/');

		if (slash != NULL && slash != dir) {
			*slash = '\0';
			(void)mkdir(dir, 0700);
		}
		free(dir);
		fd = open(kf->path,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	}
	if (fd < 0)
		goto fail;
	if (fstat(fd, &st) != 0)
		goto fail;
	if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
		goto fail;
	if (last != '\n' && write(fd, "\n", 1) != 1)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	kf->exists = true;
	r = 0;
	goto out;
fail:
	r = rb_error_set(err, RB_ERROR,
	    "cannot write known_hosts file '%s': %s", kf->path,
	    strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/* Add the session's key for h to kf (memory and file); sets *line. */
static int
kh_add(struct kh_file *kf, struct ssh_host *h, const char *key, size_t keylen,
    const struct keytype *kt, int *line, struct rb_error *err)
{
	struct libssh2_knownhost *e = NULL;
	char text[16384];
	size_t len = 0;
	int r;

	if (libssh2_knownhost_addc(kf->kh, h->hostport, NULL, key, keylen, NULL,
		0,
		LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
		    kt->mask,
		&e) != 0 ||
	    libssh2_knownhost_writeline(kf->kh, e, text, sizeof(text), &len,
		LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0)
		return rb_error_set(err, RB_ERROR,
		    "cannot record the host key of '%s': %s", h->name,
		    ssh_last_error(h->pool->kh_session, NULL));
	if ((r = kh_append(kf, text, len, err)) != 0) {
		/* Keep memory and file in step: a key we could not write is
		 * not trusted either. */
		libssh2_knownhost_del(kf->kh, e);
		return r;
	}
	note_new_entries(kf, ++kf->nlines);
	*line = kf->nlines;
	return 0;
}

/* Names of the key types kf knows for name, other than kt ("" if none). */
static void
other_types(char *out, size_t outsz, struct kh_file *kf, const char *name,
    const struct keytype *kt)
{
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < RB_ARRAY_SIZE(keytypes); i++) {
		if (keytypes[i].mask == kt->mask ||
		    !type_known(kf, name, &keytypes[i]))
			continue;
		n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0,
		    "%s%s", n ? ", " : "", keytypes[i].name);
		if (n >= outsz)
			break;
	}
}

/* The ssh-keygen -R command that removes h's entries from kf. */
static void
remove_cmd(
    char *out, size_t outsz, const struct ssh_host *h, const struct kh_file *kf)
{
	snprintf(
	    out, outsz, "ssh-keygen -R '%s' -f '%s'", h->hostport, kf->path);
}

int
ssh_hostkey_verify(struct ssh_host *h)
{
	struct rb_ssh_pool *pool = h->pool;
	struct rb_ssh_hostkey_info info;
	struct libssh2_knownhost *found = NULL;
	const struct keytype *kt;
	struct kh_file *kf;
	struct rb_error *e = &h->error;
	const char *key;
	char fp[80], others[160], rm[1024];
	char *b64 = NULL;
	size_t keylen = 0, i;
	int type = 0, rc, r = RB_EREFUSED;

	memset(&info, 0, sizeof(info));
	info.host = h->name;
	info.address = h->address;
	info.port = h->port;
	info.known_hosts = h->known_hosts;
	key = libssh2_session_hostkey(h->session, &keylen, &type);
	kt = keytype_by_hostkey(type);
	fingerprint(fp, sizeof(fp), h->session);
	info.fingerprint = fp;
	info.key_type = kt != NULL ? kt->name : "unknown";
	if (key == NULL || kt == NULL) {
		info.status = RB_SSH_HOSTKEY_ERROR;
		r = rb_error_set(e, RB_EREFUSED,
		    "cannot check the host key of '%s' (%s): unsupported key "
		    "type %d",
		    h->name, h->hostport, type);
		rb_error_hint(e, "give the host an ed25519 or ECDSA host key");
		goto out;
	}
	kf = kh_get(pool, h->known_hosts);
	if (kf->load_err.code != 0) {
		info.status = RB_SSH_HOSTKEY_ERROR;
		r = rb_error_set(e, RB_EREFUSED, "host '%s' refused: %s",
		    h->name, kf->load_err.msg);
		rb_error_hint(e,
		    "make the file readable, or set 'known_hosts' "
		    "for the host in the inventory");
		goto out;
	}
	remove_cmd(rm, sizeof(rm), h, kf);

	b64 = base64(key, keylen);
	for (i = 0; i < kf->nrev; i++) {
		if (strcmp(kf->rev[i].b64, b64) != 0)
			continue;
		info.status = RB_SSH_HOSTKEY_CHANGED;
		info.line = kf->rev[i].line;
		r = rb_error_set(e, RB_EREFUSED,
		    "host key of '%s' (%s) is revoked: %s %s is marked "
		    "@revoked in '%s' line %d",
		    h->name, h->hostport, kt->name, fp, kf->path, info.line);
		rb_error_hint(e,
		    "the host presents a key that was "
		    "withdrawn; do not connect until its administrator has "
		    "installed a new one");
		goto out;
	}

	rc = libssh2_knownhost_check(kf->kh, h->hostport, key, keylen,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
		kt->mask,
	    &found);
	switch (rc) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		info.status = RB_SSH_HOSTKEY_KNOWN;
		info.line = entry_line(kf, found);
		r = 0;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		info.status = RB_SSH_HOSTKEY_CHANGED;
		info.line = entry_line(kf, found);
		r = rb_error_set(e, RB_EREFUSED,
		    "remote host identification has changed for '%s' (%s): "
		    "it offered %s %s, but '%s' line %d has another key",
		    h->name, h->hostport, kt->name, fp, kf->path, info.line);
		rb_error_hint(e,
		    "someone may be intercepting the connection "
		    "(man-in-the-middle), or the host was reinstalled; verify "
		    "the new key with its administrator, then remove the old "
		    "one with: %s (--accept-new-host-keys never replaces a "
		    "key)",
		    rm);
		break;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		other_types(others, sizeof(others), kf, h->hostport, kt);
		if (others[0] != '\0') {
			info.status = RB_SSH_HOSTKEY_CHANGED;
			r = rb_error_set(e, RB_EREFUSED,
			    "remote host identification has changed for '%s' "
			    "(%s): it offered %s %s, but '%s' knows only "
			    "%s keys for it",
			    h->name, h->hostport, kt->name, fp, kf->path,
			    others);
			rb_error_hint(e,
			    "the host no longer offers the key "
			    "type on record; verify the new key with its "
			    "administrator, then remove the old entries with: "
			    "%s",
			    rm);
			break;
		}
		if (pool->opts.accept_new_host_keys) {
			if (kh_add(kf, h, key, keylen, kt, &info.line, e) ==
			    0) {
				info.status = RB_SSH_HOSTKEY_ADDED;
				r = 0;
			} else {
				info.status = RB_SSH_HOSTKEY_ERROR;
				r = RB_EREFUSED;
				e->code = RB_EREFUSED;
				rb_error_hint(e,
				    "fix the file's permissions, or "
				    "set 'known_hosts' for the host in the "
				    "inventory");
			}
			break;
		}
		info.status = RB_SSH_HOSTKEY_UNKNOWN;
		r = rb_error_set(e, RB_EREFUSED,
		    "unknown host key for '%s' (%s): %s %s is not in '%s'%s",
		    h->name, h->hostport, kt->name, fp, kf->path,
		    kf->exists ? "" : " (no such file)");
		if (h->port == 22)
			rb_error_hint(e,
			    "check this fingerprint with the "
			    "host's administrator (ssh-keygen -lf "
			    "/etc/ssh/ssh_host_%s_key.pub on the host), then "
			    "run again with --accept-new-host-keys, or add it "
			    "with: ssh-keyscan -t %s '%s' >> '%s'",
			    kt->scan, kt->scan, h->address, kf->path);
		else
			rb_error_hint(e,
			    "check this fingerprint with the "
			    "host's administrator (ssh-keygen -lf "
			    "/etc/ssh/ssh_host_%s_key.pub on the host), then "
			    "run again with --accept-new-host-keys, or add it "
			    "with: ssh-keyscan -p %d -t %s '%s' >> '%s'",
			    kt->scan, h->port, kt->scan, h->address, kf->path);
		break;
	default:
		info.status = RB_SSH_HOSTKEY_ERROR;
		r = rb_error_set(e, RB_EREFUSED,
		    "cannot check the host key of '%s' (%s) against '%s': %s",
		    h->name, h->hostport, kf->path,
		    ssh_last_error(pool->kh_session, NULL));
		break;
	}
out:
	info.trusted = r == 0;
	if (r == 0) {
		char reason[1200];

		if (info.status == RB_SSH_HOSTKEY_ADDED)
			snprintf(reason, sizeof(reason),
			    "added to '%s' line "
			    "%d (accept new host keys)",
			    h->known_hosts, info.line);
		else
			snprintf(reason, sizeof(reason), "matches '%s' line %d",
			    h->known_hosts, info.line);
		if (pool->opts.on_hostkey != NULL) {
			info.reason = reason;
			pool->opts.on_hostkey(&info, pool->opts.payload);
		}
		rb_error_clear(e);
	} else {
		pool->stats.hostkey_refusals++;
		info.reason = e->msg;
		if (pool->opts.on_hostkey != NULL)
			pool->opts.on_hostkey(&info, pool->opts.payload);
	}
	free(b64);
	return r;
}
