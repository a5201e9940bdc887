/*
 * file.c - reading a whole input file under a size cap, with a located
 * diagnostic on failure, and errno text in the house message style.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "runbook/diag.h"
#include "runbook/error.h"
#include "runbook/banned.h"

void
rb_errno_text(char *out, size_t outsz, int errnum)
{
	char buf[128];
	const char *s;

	/* GNU strerror_r may return a static string instead of filling buf. */
	s = strerror_r(errnum, buf, sizeof(buf));
	snprintf(out, outsz, "%s", s);
	if (out[0] >= 'A' && out[0] <= 'Z' && (out[1] < 'A' || out[1] > 'Z'))
		out[0] = (char)(out[0] - 'A' + 'a');
}

int
rb_file_read(struct rb_buf *buf, const char *path, struct rb_diags *d)
{
	struct rb_loc loc = { path, 0, 0 };
	char why[128];
	int r;

	r = rb_buf_read_file(buf, path, RB_FILE_MAX);
	if (r == 0 || r == RB_ENOTFOUND)
		return r;
	if (r == RB_ETOOBIG) {
		rb_diag_error(d, &loc, "file is larger than %d MiB",
		    RB_FILE_MAX / (1024 * 1024));
		return RB_EINVAL;
	}
	rb_errno_text(why, sizeof(why), errno);
	rb_diag_error(d, &loc, "cannot read '%s': %s", path, why);
	return RB_EINVAL;
}
