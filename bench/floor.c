/* bench/floor.py's socket writer in C: the same frame to the same sockets, for reference.

   Usage: floor ROUNDS FRAME_HEX FD...
   Writes the frame (given in hex) once to every FD, ROUNDS times over, each write
   without waiting (MSG_DONTWAIT) as the Python writer and the server do; a write
   the kernel does not take whole is finished by waiting for the socket (counted
   as "blocked"). Prints one JSON line: writes, this process's CPU in ns over the
   loop (CLOCK_PROCESS_CPUTIME_ID: user and system time), blocked. */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Write the rest of a frame the kernel took only part of, waiting as needed. */
static int finish(int fd, const unsigned char *data, size_t left) {
    while (left > 0) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) return -1;
        ssize_t n = send(fd, data, left, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
            return -1;
        }
        data += n;
        left -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s ROUNDS FRAME_HEX FD...\n", argv[0]);
        return 2;
    }
    long rounds = strtol(argv[1], NULL, 10);
    size_t hex_len = strlen(argv[2]);
    size_t len = hex_len / 2;
    unsigned char *frame = malloc(len);
    for (size_t i = 0; i < len; i++) {
        int hi = hex_value(argv[2][2 * i]), lo = hex_value(argv[2][2 * i + 1]);
        if (hi < 0 || lo < 0) {
            fprintf(stderr, "FRAME_HEX is not hex\n");
            return 2;
        }
        frame[i] = (unsigned char)(hi << 4 | lo);
    }
    int count = argc - 3;
    int *fds = malloc(sizeof(int) * (size_t)count);
    for (int i = 0; i < count; i++) fds[i] = atoi(argv[3 + i]);

    long writes = 0, blocked = 0;
    struct timespec start, end;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < count; i++) {
            ssize_t n = send(fds[i], frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n != (ssize_t)len) {
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                    perror("send");
                    return 1;
                }
                size_t done = n < 0 ? 0 : (size_t)n;
                blocked++;
                if (finish(fds[i], frame + done, len - done) < 0) {
                    perror("send");
                    return 1;
                }
            }
            writes++;
        }
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &end);
    long long ns = (long long)(end.tv_sec - start.tv_sec) * 1000000000LL +
                   (end.tv_nsec - start.tv_nsec);
    printf("{\"writes\": %ld, \"cpu_ns\": %lld, \"blocked\": %ld}\n", writes, ns, blocked);
    return 0;
}
