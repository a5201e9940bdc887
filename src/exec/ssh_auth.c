/*
 * ssh_auth.c - public-key authentication of a freshly handshaken SSH
 * session, one non-blocking step at a time: ask which methods the server
 * takes, offer every ssh-agent key, then the key files (the inventory's
 * 'identity', else ~/.ssh/id_ed25519 and ~/.ssh/id_ecdsa). A refusal names
 * every key tried and why, and what to do about it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

/*
 * libssh2 1.10 with OpenSSL 3 leaks the BIGNUMs of every ECDSA private key
 * file it reads (~112 bytes per login; fixed in libssh2 1.11). Under
 * LeakSanitizer that one call is excluded, so `make asan` stays clean
 * without suppressing anything of ours.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define RB_LSAN_EXCLUDE 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RB_LSAN_EXCLUDE 1
#endif
#ifdef RB_LSAN_EXCLUDE
#include <sanitizer/lsan_interface.h>
#endif

#include "exec/ssh_int.h"
#include "runbook/util.h"
#include "runbook/banned.h"

/* Authentication steps, in order. */
enum {
	AUTH_LIST,	 /* which methods the server takes */
	AUTH_AGENT,	 /* connect to ssh-agent, list its keys */
	AUTH_AGENT_NEXT, /* pick the next agent key */
	AUTH_AGENT_TRY,	 /* offer it */
	AUTH_FILE,	 /* pick the next key file */
	AUTH_FILE_TRY	 /* offer it */
};


/* The key type named at the start of a public key blob. */
static void
blob_type(char *out, size_t outsz, const unsigned char *p, size_t len)
{
	uint32_t n;

	snprintf(out, outsz, "unknown");
	if (len < 4)
		return;
	n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
	    p[3];
	if (n > len - 4 || n >= outsz)
		return;
	memcpy(out, p + 4, n);
	out[n] = '\0';
}

/* The key type of an OpenSSH "openssh-key-v1" private key file body. */
static void
openssh_key_type(char *out, size_t outsz, const char *pem)
{
	static const char magic[] = "openssh-key-v1";
	const char *b = strstr(pem, "-----BEGIN OPENSSH PRIVATE KEY-----");
	const char *e = b != NULL ? strstr(b, "-----END") : NULL;
	struct rb_buf b64 = RB_BUF_INIT;
	unsigned char *raw = NULL;
	const unsigned char *p, *end;
	int n, i;

	if (b == NULL || e == NULL)
		return;
	for (b += 35; b < e; b++)
		if (*b != '\n' && *b != '\r' && *b != ' ' && *b != '\t')
			rb_buf_addch(&b64, *b);
	if (b64.len == 0 || b64.len % 4 != 0 || b64.len > 1 << 20)
		goto out;
	raw = xmalloc(b64.len / 4 * 3 + 1);
	if ((n = EVP_DecodeBlock(raw, (unsigned char *)b64.buf, (int)b64.len)) <
	    (int)sizeof(magic))
		goto out;
	if (memcmp(raw, magic, sizeof(magic)) != 0)
		goto out;
	p = raw + sizeof(magic);
	end = raw + n;
	/* cipher, kdf, kdf options: strings; then the key count. */
	for (i = 0; i < 3; i++) {
		uint32_t len;

		if (end - p < 4)
			goto out;
		len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if (len > (size_t)(end - p - 4))
			goto out;
		p += 4 + len;
	}
	if (end - p < 8)
		goto out;
	p += 8; /* key count, then the first public key's length */
	blob_type(out, outsz, p, (size_t)(end - p));
out:
	free(raw);
	rb_buf_release(&b64);
}

/* The type of the private key in path ("ssh-rsa", ...), or "unknown". */
static void
key_file_type(char *out, size_t outsz, const char *path)
{
	struct rb_buf b = RB_BUF_INIT;
	char *pub;

	snprintf(out, outsz, "unknown");
	if (rb_buf_read_file(&b, path, 1 << 20) == 0) {
		if (strstr(b.buf, "-----BEGIN RSA PRIVATE KEY-----") != NULL)
			snprintf(out, outsz, "ssh-rsa");
		else if (strstr(b.buf, "-----BEGIN EC PRIVATE KEY-----"))
			snprintf(out, outsz, "ecdsa");
		else
			openssh_key_type(out, outsz, b.buf);
		rb_buf_release_secret(&b);
	}
	if (strcmp(out, "unknown") != 0)
		return;
	pub = xstrfmt("%s.pub", path);
	if (rb_buf_read_file(&b, pub, 1 << 16) == 0) {
		size_t n = strcspn(b.buf, " \t\n");

		if (n > 0 && n < outsz) {
			memcpy(out, b.buf, n);
			out[n] = '\0';
		}
	}
	rb_buf_release(&b);
	free(pub);
}

/* Append one "what (why)" to the list of keys tried. */
static void
auth_note(struct ssh_host *h, const char *fmt, ...)
{
	va_list ap;

	if (h->auth_tried.len > 0)
		rb_buf_adds(&h->auth_tried, "; ");
	va_start(ap, fmt);
	rb_buf_vaddf(&h->auth_tried, fmt, ap);
	va_end(ap);
}

/* The session is authenticated: drop what was kept to get there. */
static void
auth_ok(struct ssh_host *h)
{
	if (h->agent != NULL) {
		(void)libssh2_agent_disconnect(h->agent);
		libssh2_agent_free(h->agent);
		h->agent = NULL;
		h->agent_id = NULL;
	}
	rb_strvec_release(&h->ident_files);
	rb_buf_reset(&h->auth_tried);
	ssh_host_ready(h);
}

/* No key was accepted: say which were tried and what to do. */
static void
auth_failed(struct ssh_host *h)
{
	struct rb_error *e = &h->error;

	if (h->auth_rsa) {
		rb_error_set(e, RB_ERROR,
		    "cannot log in to '%s' (%s port %d) as '%s': the host "
		    "refused the RSA key, and Debian's libssh2 1.10 cannot "
		    "sign RSA keys with SHA-2 (rsa-sha2-256/512), which "
		    "OpenSSH 8.8 and later require (libssh2 issue 634); "
		    "tried: %s",
		    h->name, h->address, h->port, h->user, h->auth_tried.buf);
		rb_error_hint(e,
		    "use an ed25519 key: ssh-keygen -t ed25519, "
		    "add the .pub to ~%s/.ssh/authorized_keys on the host, "
		    "and set 'identity' in the inventory (or load it into "
		    "ssh-agent)",
		    h->user);
	} else if (h->auth_tried.len == 0) {
		rb_error_set(e, RB_ERROR,
		    "cannot log in to '%s' (%s port %d) as '%s': no key to "
		    "offer (no ssh-agent, no ~/.ssh/id_ed25519 or "
		    "~/.ssh/id_ecdsa)",
		    h->name, h->address, h->port, h->user);
		rb_error_hint(e,
		    "create a key with ssh-keygen -t ed25519 and "
		    "install its .pub on the host, or set 'identity' in the "
		    "inventory");
	} else {
		rb_error_set(e, RB_ERROR,
		    "cannot log in to '%s' (%s port %d) as '%s': no key was "
		    "accepted; tried: %s",
		    h->name, h->address, h->port, h->user, h->auth_tried.buf);
		rb_error_hint(e,
		    "add the public key to ~%s/.ssh/"
		    "authorized_keys on the host, or set 'identity' (or "
		    "'user') for the host in the inventory",
		    h->user);
	}
	ssh_connect_failed(h, true);
}

/* Connect to the agent and list its keys; false to skip it. */
static bool
agent_start(struct ssh_host *h)
{
	h->agent = libssh2_agent_init(h->session);
	if (h->agent == NULL) {
		auth_note(h, "ssh-agent (cannot use it)");
		return false;
	}
	libssh2_agent_set_identity_path(h->agent, h->pool->agent_socket);
	/* Both talk to the local agent socket, which is blocking. */
	if (libssh2_agent_connect(h->agent) != 0) {
		auth_note(h, "ssh-agent at '%s' (cannot connect)",
		    h->pool->agent_socket);
		goto fail;
	}
	if (libssh2_agent_list_identities(h->agent) != 0) {
		auth_note(h, "ssh-agent (cannot list keys)");
		goto fail;
	}
	h->agent_id = NULL;
	return true;
fail:
	libssh2_agent_free(h->agent);
	h->agent = NULL;
	return false;
}

/* Pick the next existing key file into ident_cur; false when none. */
static bool
next_key_file(struct ssh_host *h)
{
	if (h->ident_next == 0 && h->ident_files.nr == 0) {
		if (h->identity != NULL) {
			rb_strvec_push(&h->ident_files, h->identity);
		} else {
			rb_strvec_pushf(&h->ident_files, "%s/.ssh/id_ed25519",
			    h->pool->home);
			rb_strvec_pushf(
			    &h->ident_files, "%s/.ssh/id_ecdsa", h->pool->home);
		}
	}
	while (h->ident_next < h->ident_files.nr) {
		const char *f = h->ident_files.v[h->ident_next++];

		if (access(f, F_OK) == 0) {
			h->ident_cur = f;
			return true;
		}
		/* A default that does not exist is not worth a word. */
		if (h->identity != NULL)
			auth_note(h, "'%s' (%s)", f, strerror(errno));
	}
	return false;
}

/* What a step of the machine says: wait for the socket, or go on. */
enum auth_next {
	AUTH_WAIT,	/* blocked, or finished (ready or failed) */
	AUTH_GO_ON	/* h->auth_step says what to do next */
};

/* The server's methods: fail unless it takes public keys. */
static enum auth_next
auth_list(struct ssh_host *h)
{
	LIBSSH2_SESSION *s = h->session;
	char *list;

	list = libssh2_userauth_list(s, h->user, (unsigned)strlen(h->user));
	if (list == NULL) {
		if (libssh2_userauth_authenticated(s)) {
			auth_ok(h); /* "none" was enough */
			return AUTH_WAIT;
		}
		if (libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN)
			return AUTH_WAIT;
		rb_error_set(&h->error, RB_ERROR,
		    "cannot log in to '%s' (%s port %d): %s",
		    h->name, h->address, h->port, ssh_last_error(s, NULL));
		ssh_connect_failed(h, false);
		return AUTH_WAIT;
	}
	if (strstr(list, "publickey") == NULL) {
		rb_error_set(&h->error, RB_ERROR,
		    "cannot log in to '%s' (%s port %d) as "
		    "'%s': it does not accept public keys "
		    "(it offers: %s)",
		    h->name, h->address, h->port, h->user, list);
		rb_error_hint(&h->error,
		    "enable "
		    "PubkeyAuthentication in the host's "
		    "sshd_config; runbook never sends "
		    "passwords");
		ssh_connect_failed(h, true);
		return AUTH_WAIT;
	}
	h->auth_step = h->pool->agent_socket != NULL ? AUTH_AGENT : AUTH_FILE;
	return AUTH_GO_ON;
}

/* A libssh2 error that is no refusal of this key: fail the connection. */
static enum auth_next
auth_broken(struct ssh_host *h)
{
	rb_error_set(&h->error, RB_ERROR,
	    "cannot log in to '%s' (%s port %d): %s",
	    h->name, h->address, h->port, ssh_last_error(h->session, NULL));
	ssh_connect_failed(h, false);
	return AUTH_WAIT;
}

/* Pick the next agent key, or go on to the key files. */
static void
agent_next(struct ssh_host *h)
{
	if (libssh2_agent_get_identity(h->agent, &h->agent_id,
	    h->agent_id) != 0) {
		(void)libssh2_agent_disconnect(h->agent);
		libssh2_agent_free(h->agent);
		h->agent = NULL;
		h->agent_id = NULL;
		h->auth_step = AUTH_FILE;
		return;
	}
	h->auth_step = AUTH_AGENT_TRY;
}

/* Offer the current agent key. */
static enum auth_next
agent_try(struct ssh_host *h)
{
	char type[64];
	int rc;

	rc = libssh2_agent_userauth(h->agent, h->user, h->agent_id);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return AUTH_WAIT;
	if (rc == 0) {
		auth_ok(h);
		return AUTH_WAIT;
	}
	if (ssh_error_is_fatal(rc) &&
	    rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED &&
	    rc != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED &&
	    rc != LIBSSH2_ERROR_AGENT_PROTOCOL &&
	    rc != LIBSSH2_ERROR_PUBLICKEY_PROTOCOL &&
	    rc != LIBSSH2_ERROR_ALLOC &&
	    rc != LIBSSH2_ERROR_METHOD_NONE)
		return auth_broken(h);
	blob_type(type, sizeof(type), h->agent_id->blob,
	    h->agent_id->blob_len);
	if (strcmp(type, "ssh-rsa") == 0)
		h->auth_rsa = true;
	auth_note(h, "agent key %s '%s' (refused)", type,
	    h->agent_id->comment != NULL ? h->agent_id->comment : "");
	h->auth_step = AUTH_AGENT_NEXT;
	return AUTH_GO_ON;
}

/* Offer the current key file. */
static enum auth_next
file_try(struct ssh_host *h)
{
	LIBSSH2_SESSION *s = h->session;
	char type[64];
	int rc;

#ifdef RB_LSAN_EXCLUDE
	__lsan_disable();
#endif
	rc = libssh2_userauth_publickey_fromfile_ex(s, h->user,
	    (unsigned)strlen(h->user), NULL, h->ident_cur, NULL);
#ifdef RB_LSAN_EXCLUDE
	__lsan_enable();
#endif
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return AUTH_WAIT;
	if (rc == 0) {
		auth_ok(h);
		return AUTH_WAIT;
	}
	key_file_type(type, sizeof(type), h->ident_cur);
	if (rc == LIBSSH2_ERROR_FILE) {
		auth_note(h,
		    "'%s' (cannot use it: %s; keys "
		    "with a passphrase need ssh-agent)",
		    h->ident_cur, ssh_last_error(s, NULL));
	} else if (ssh_error_is_fatal(rc) &&
	    rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED &&
	    rc != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED &&
	    rc != LIBSSH2_ERROR_PUBLICKEY_PROTOCOL &&
	    rc != LIBSSH2_ERROR_METHOD_NONE) {
		return auth_broken(h);
	} else {
		if (strcmp(type, "ssh-rsa") == 0)
			h->auth_rsa = true;
		auth_note(h, "'%s' %s (refused)", h->ident_cur, type);
	}
	h->auth_step = AUTH_FILE;
	return AUTH_GO_ON;
}

void
ssh_auth_start(struct ssh_host *h)
{
	h->auth_step = AUTH_LIST;
}

void
ssh_auth_step(struct ssh_host *h)
{
	enum auth_next next = AUTH_GO_ON;

	while (next == AUTH_GO_ON) {
		switch (h->auth_step) {
		case AUTH_LIST:
			next = auth_list(h);
			break;
		case AUTH_AGENT:
			h->auth_step = agent_start(h) ? AUTH_AGENT_NEXT :
			    AUTH_FILE;
			break;
		case AUTH_AGENT_NEXT:
			agent_next(h);
			break;
		case AUTH_AGENT_TRY:
			next = agent_try(h);
			break;
		case AUTH_FILE:
			if (!next_key_file(h)) {
				auth_failed(h);
				next = AUTH_WAIT;
			} else
				h->auth_step = AUTH_FILE_TRY;
			break;
		case AUTH_FILE_TRY:
			next = file_try(h);
			break;
		default:
			next = AUTH_WAIT;
			break;
		}
	}
}
