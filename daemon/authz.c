/*
 * authz.c — who may use this vmnetd (the role of Apple's entitlement).
 *
 * A per-user daemon serves its own uid (and root). The system daemon serves
 * root and members of the group `vmnet` (primary or supplementary). The peer's
 * credentials come from SO_PEERCRED; a refusal is answered with
 * VMNET_NOT_AUTHORIZED and the connection is closed.
 */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

#define VMNET_GROUP "vmnet"
#define MAX_GROUPS 256

/* Is uid (primary group gid) a member of group `want`? */
static bool in_group(uid_t uid, gid_t gid, gid_t want)
{
	gid_t groups[MAX_GROUPS];
	int n = MAX_GROUPS;
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (gid == want)
		return true;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == want)
			return true;
	return false;
}

bool authz_allowed(uid_t uid, gid_t gid)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (uid == 0)
		return true;
	if (!opts.system)
		return uid == opts.owner;
	if (getgrnam_r(VMNET_GROUP, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	return in_group(uid, gid, gr.gr_gid);
}
