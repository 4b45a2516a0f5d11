/*
 * state.c — what vmnetd must not lose across restarts: for now the
 * interface-id -> MAC map (later also leases and named networks).
 *
 * Files live in the state directory and are replaced atomically (write a
 * temporary file, fsync, rename). The map is bounded; when full, the oldest
 * entry is forgotten.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/daemon.h"

#define STATE_MAX_MACS 4096
#define MAC_FILE "interfaces"

struct mac_entry {
	uuid_t id;
	uint8_t mac[6];
};

static char state_path[4096];
static struct mac_entry macs[STATE_MAX_MACS];
static unsigned nmacs;

/* mkdir -p with mode 0700 for the last component. Return: 0 or -errno. */
static int mkdir_p(const char *dir)
{
	char tmp[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}


static void load_macs(void)
{
	char path[4200], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", state_path, MAC_FILE);
	f = fopen(path, "re");
	if (!f)
		return;
	while (nmacs < STATE_MAX_MACS && fgets(line, sizeof(line), f)) {
		char ids[64], macs_s[64];
		struct mac_entry e;

		if (sscanf(line, "%63s %63s", ids, macs_s) != 2 || uuid_parse(ids, e.id) < 0 ||
		    util_mac_from_string(macs_s, e.mac) < 0) {
			log_warn("state: ignoring a malformed line in %s", path);
			continue;
		}
		macs[nmacs++] = e;
	}
	fclose(f);
}

int state_init(const char *dir)
{
	int r;

	snprintf(state_path, sizeof(state_path), "%s", dir);
	r = mkdir_p(state_path);
	if (r < 0)
		return r;
	load_macs();
	return 0;
}

/* Write the whole map (atomically: util_write_atomic). */
static int save_macs(void)
{
	static char buf[STATE_MAX_MACS * (UTIL_UUID_STRLEN + UTIL_MAC_STRLEN + 1)];
	char path[4200], ids[40], m[UTIL_MAC_STRLEN];
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/%s", state_path, MAC_FILE);
	for (unsigned i = 0; i < nmacs; i++) {
		util_mac_to_string(macs[i].mac, m);
		uuid_unparse_upper(macs[i].id, ids);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s %s\n", ids, m);
	}
	return util_write_atomic(path, buf, len);
}

bool state_mac_lookup(const uuid_t id, uint8_t mac[6])
{
	for (unsigned i = 0; i < nmacs; i++)
		if (!uuid_compare(macs[i].id, id)) {
			memcpy(mac, macs[i].mac, 6);
			return true;
		}
	return false;
}

int state_mac_store(const uuid_t id, const uint8_t mac[6])
{
	unsigned i;

	for (i = 0; i < nmacs; i++)
		if (!uuid_compare(macs[i].id, id))
			break;
	if (i == nmacs) {
		if (nmacs == STATE_MAX_MACS) {
			memmove(&macs[0], &macs[1], sizeof(macs[0]) * (STATE_MAX_MACS - 1));
			nmacs--;
		}
		i = nmacs++;
	}
	memcpy(macs[i].id, id, sizeof(uuid_t));
	memcpy(macs[i].mac, mac, 6);
	return save_macs();
}

/* Is this MAC remembered for some interface id? */
static bool state_mac_known(const uint8_t mac[6])
{
	for (unsigned i = 0; i < nmacs; i++)
		if (!memcmp(macs[i].mac, mac, 6))
			return true;
	return false;
}

void state_mac_random(uint8_t mac[6])
{
	do {
		if (getrandom(mac, 6, 0) != 6) {
			for (int i = 0; i < 6; i++)
				mac[i] = (uint8_t)random();
		}
		mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
	} while (network_mac_in_use(mac, NULL) || state_mac_known(mac));
}
