/*
 * sockfile.h — the file of a UNIX socket that vmnetd binds for a VMM
 * (QEMU stream/dgram attachments): bound through a directory descriptor and
 * removed only while it is still the file we created.
 */
#ifndef VMNET_ENGINE_SOCKFILE_H
#define VMNET_ENGINE_SOCKFILE_H

#include <stdbool.h>
#include <sys/types.h>

#define SOCKFILE_NAME_MAX 80 /* "/proc/self/fd/N/" + name must fit in sun_path */

struct sockfile {
	int dirfd;   /* the directory, opened once (O_PATH): later renames of its path do not matter */
	char name[SOCKFILE_NAME_MAX + 1];
	dev_t dev;   /* the file as bound: removed only while it is still this one */
	ino_t ino;
};

/*
 * Split an absolute path into its directory (opened O_PATH into sf->dirfd)
 * and last component. Return: 0, -EINVAL (not absolute, no name, "." or
 * ".."), -ENAMETOOLONG, or -errno of open.
 */
int sockfile_open_dir(const char *path, struct sockfile *sf);
/* The address of sf's name through /proc/self/fd (no path lookup races). Return: length for bind/connect. */
unsigned sockfile_addr(const struct sockfile *sf, void *sockaddr_un);
/* Is a socket bound at sf's name right now (a live peer answers)? Return: 1, 0 (stale or absent) or -errno. */
int sockfile_in_use(const struct sockfile *sf);
/* Bind fd at sf's name (which must not exist) and record the file. Return: 0 or -errno. */
int sockfile_bind(struct sockfile *sf, int fd);
/* Remove the file if it is still the one we bound; close the directory. Safe to call twice. */
void sockfile_remove(struct sockfile *sf);

#endif
