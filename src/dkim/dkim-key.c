/* dkim-key.c: DKIM signing keys on disk: their paths, reading and
 * checking them, making new ones (minimailctl dkim keygen), the public
 * half for DNS, and the keyset the daemon signs with.
 *
 * The one idea: a key is read whole (bounded, DKIM_KEY_FILE_MAX_BYTES)
 * and must be exactly what its name says (an RSA key of a sane size in
 * -rsa.key, an Ed25519 key in -ed25519.key): a wrong or damaged file is
 * an error at start-up and in -t, never a message signed with something
 * else. A key that does not exist yet is only a warning: that domain's
 * mail goes out unsigned until "minimailctl dkim keygen" makes one. */
#include "dkim/dkim.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/util.h"

void
dkim_selector_name(const char *selector, enum dkim_alg alg, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%s", selector, dkim_alg_keytype(alg));
}

void
dkim_key_path(const char *data_dir, const char *domain, const char *selector,
    enum dkim_alg alg, char *buf, size_t len)
{
	snprintf(buf, len, "%s/dkim/%s.%s-%s.key", data_dir, domain, selector,
	    dkim_alg_keytype(alg));
}

static void
ssl_reason(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errlen, "%s (%s)", what, buf);
	} else {
		snprintf(err, errlen, "%s", what);
	}
	ERR_clear_error();
}

EVP_PKEY *
dkim_key_load(const char *path, enum dkim_alg alg, bool *missing_r, char *err,
    size_t errlen)
{
	char *text = NULL;
	ssize_t n;
	size_t len = 0;
	EVP_PKEY *pkey = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (missing_r != NULL)
		*missing_r = false;
	if (fd < 0) {
		if (errno == ENOENT && missing_r != NULL)
			*missing_r = true;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	text = xmalloc(DKIM_KEY_FILE_MAX_BYTES + 1);
	while ((n = read(fd, text + len, DKIM_KEY_FILE_MAX_BYTES + 1 - len)) > 0) {
		len += (size_t)n;
		if (len == DKIM_KEY_FILE_MAX_BYTES + 1)
			break;
	}
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (len > DKIM_KEY_FILE_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %d bytes: not a DKIM key", path,
		    DKIM_KEY_FILE_MAX_BYTES);
		goto out;
	}
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	if (bio != NULL)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		char what[1200];
		snprintf(what, sizeof(what), "%s: not a PEM private key", path);
		ssl_reason(err, errlen, what);
		goto out;
	}
	if (alg == DKIM_ALG_RSA_SHA256) {
		int bits = EVP_PKEY_get_bits(pkey);
		if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
			snprintf(err, errlen, "%s: not an RSA key", path);
			goto bad;
		}
		if (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS) {
			snprintf(err, errlen, "%s: RSA key of %d bits (expected %d to %d)",
			    path, bits, DKIM_RSA_MIN_BITS, DKIM_RSA_MAX_BITS);
			goto bad;
		}
	} else if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "%s: not an Ed25519 key", path);
		goto bad;
	}
	goto out;
bad:
	EVP_PKEY_free(pkey);
	pkey = NULL;
out:
	close(fd);
	explicit_bzero(text, DKIM_KEY_FILE_MAX_BYTES + 1);
	free(text);
	return pkey;
}

EVP_PKEY *
dkim_key_generate(enum dkim_alg alg, char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;

	if (alg == DKIM_ALG_RSA_SHA256)
		pkey = EVP_RSA_gen(DKIM_RSA_SIGN_BITS);
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL)
		ssl_reason(err, errlen, "key generation failed");
	return pkey;
}

bool
dkim_key_write(const char *path, EVP_PKEY *pkey, char *err, size_t errlen)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data;
	long len;
	bool ok = false;
	int fd;

	if (mem == NULL || PEM_write_bio_PKCS8PrivateKey(mem, pkey, NULL, NULL, 0,
	    NULL, NULL) != 1) {
		ssl_reason(err, errlen, "cannot encode the key");
		BIO_free(mem);
		return false;
	}
	len = BIO_get_mem_data(mem, &data);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, errno == EEXIST ?
		    "exists (a key is never replaced: choose a new selector)" :
		    strerror(errno));
		goto out;
	}
	if (write(fd, data, (size_t)len) != (ssize_t)len || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		goto out;
	}
	if (close(fd) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
		goto out;
	}
	ok = true;
out:
	BIO_free(mem);
	return ok;
}

bool
dkim_key_public(EVP_PKEY *pkey, enum dkim_alg alg, unsigned char *out, size_t max,
    size_t *len_r)
{
	if (alg == DKIM_ALG_ED25519_SHA256) {
		size_t n = max;
		if (EVP_PKEY_get_raw_public_key(pkey, out, &n) != 1)
			return false;
		*len_r = n;
		return true;
	}
	int n = i2d_PUBKEY(pkey, NULL);
	if (n <= 0 || (size_t)n > max)
		return false;
	unsigned char *p = out;
	if (i2d_PUBKEY(pkey, &p) != n)
		return false;
	*len_r = (size_t)n;
	return true;
}

/* ---- the keyset ---- */

struct dkim_keyset *
dkim_keyset_load(const struct config *cfg, struct config_errors *errs)
{
	struct dkim_keyset *ks = xcalloc(1, sizeof(*ks));
	size_t nerr = errs->errors.n;
	enum dkim_alg algs[2];
	size_t nalgs = 0;

	if (!cfg->dkim_sign)
		return ks;
	if (cfg->dkim_rsa)
		algs[nalgs++] = DKIM_ALG_RSA_SHA256;
	if (cfg->dkim_ed25519)
		algs[nalgs++] = DKIM_ALG_ED25519_SHA256;
	ks->keys = xcalloc(cfg->domains.n * nalgs + 1, sizeof(*ks->keys));
	for (size_t i = 0; i < cfg->domains.n; i++) {
		const char *dom = cfg->domains.v[i];
		for (size_t a = 0; a < nalgs; a++) {
			char path[2048], err[1400];
			bool missing;
			dkim_key_path(cfg->data_dir, dom, cfg->dkim_selector, algs[a], path,
			    sizeof(path));
			EVP_PKEY *pkey = dkim_key_load(path, algs[a], &missing, err, sizeof(err));
			if (pkey == NULL && missing) {
				char *m = xasprintf("%s: warning: no DKIM key: mail from %s "
				    "is not signed with it (minimailctl dkim keygen %s)", path,
				    dom, dom);
				mm_strlist_add(&errs->warnings, m);
				free(m);
				continue;
			}
			if (pkey == NULL) {
				mm_strlist_add(&errs->errors, err);
				continue;
			}
			struct dkim_key *k = &ks->keys[ks->n++];
			k->alg = algs[a];
			mm_strlcpy(k->domain, dom, sizeof(k->domain));
			dkim_selector_name(cfg->dkim_selector, algs[a], k->selector,
			    sizeof(k->selector));
			k->pkey = pkey;
		}
	}
	if (errs->errors.n > nerr)
		dkim_keyset_free(&ks);
	return ks;
}

void
dkim_keyset_free(struct dkim_keyset **ksp)
{
	struct dkim_keyset *ks = *ksp;

	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->keys[i].pkey);
	free(ks->keys);
	free(ks);
	*ksp = NULL;
}

void
dkim_check(const struct config *cfg, struct config_errors *errs)
{
	struct dkim_keyset *ks = dkim_keyset_load(cfg, errs);
	dkim_keyset_free(&ks);
}
