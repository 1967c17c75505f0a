/*
 * A ZMTP 3.1 PAIR peer on usrsctp (Debian's libusrsctp-dev) over UDP encapsulation
 * (RFC 6951), for vtx-sctp's interop test. It speaks the mapping of docs/sctp.md:
 * ZMTP bytes on stream 0, in SCTP messages of at most 64 KiB.
 *
 * It echoes every message it receives. A one-frame message "QUIT" makes it close the
 * association (SCTP SHUTDOWN) and exit; a peer that shuts down makes it exit too.
 * Exit status 0 means: handshake done, every message echoed, clean shutdown.
 *
 *   zmtp_echo listen  <udp-port> <sctp-port>
 *   zmtp_echo connect <udp-port> <sctp-port> <peer-udp-port> <peer-sctp-port>
 *
 * Addresses are 127.0.0.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <usrsctp.h>

#define SEGMENT 65536

static void die(const char *what) {
    fprintf(stderr, "zmtp_echo: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Bytes received and not yet parsed. */
static uint8_t *in;
static size_t in_len, in_cap;

static int fill(struct socket *s) {
    uint8_t buf[SEGMENT * 2];
    struct sockaddr_in from;
    socklen_t fromlen = sizeof from;
    struct sctp_rcvinfo info;
    socklen_t infolen = sizeof info;
    unsigned int infotype = 0;
    int flags = 0;
    ssize_t n = usrsctp_recvv(s, buf, sizeof buf, (struct sockaddr *)&from, &fromlen, &info,
                              &infolen, &infotype, &flags);
    if (n < 0) die("recv");
    if (n == 0) return 0; /* the peer shut down */
    if (infotype == SCTP_RECVV_RCVINFO && info.rcv_sid != 0) {
        fprintf(stderr, "zmtp_echo: data on stream %u\n", info.rcv_sid);
        exit(3);
    }
    if (in_len + (size_t)n > in_cap) {
        in_cap = (in_len + (size_t)n) * 2;
        in = realloc(in, in_cap);
        if (!in) die("realloc");
    }
    memcpy(in + in_len, buf, (size_t)n);
    in_len += (size_t)n;
    return 1;
}

/* Waits until `n` bytes are buffered; 0 if the peer shut down first. */
static int need(struct socket *s, size_t n) {
    while (in_len < n)
        if (!fill(s)) return 0;
    return 1;
}

static void consume(size_t n) {
    memmove(in, in + n, in_len - n);
    in_len -= n;
}

static void send_all(struct socket *s, const uint8_t *p, size_t len) {
    struct sctp_sndinfo snd;
    memset(&snd, 0, sizeof snd);
    snd.snd_sid = 0;
    snd.snd_ppid = htonl(53);
    while (len > 0) {
        size_t n = len < SEGMENT ? len : SEGMENT;
        if (usrsctp_sendv(s, p, n, NULL, 0, &snd, sizeof snd, SCTP_SENDV_SNDINFO, 0) < 0)
            die("send");
        p += n;
        len -= n;
    }
}

static void send_frame(struct socket *s, uint8_t flags, const uint8_t *body, uint64_t len) {
    uint8_t head[9];
    size_t h;
    if (len <= 255) {
        head[0] = flags;
        head[1] = (uint8_t)len;
        h = 2;
    } else {
        head[0] = flags | 0x02;
        for (int i = 0; i < 8; i++) head[1 + i] = (uint8_t)(len >> (56 - 8 * i));
        h = 9;
    }
    uint8_t *frame = malloc(h + len);
    if (!frame) die("malloc");
    memcpy(frame, head, h);
    memcpy(frame + h, body, len);
    send_all(s, frame, h + len);
    free(frame);
}

/* Reads one frame into a new buffer; returns 0 if the peer shut down. */
static int read_frame(struct socket *s, uint8_t *flags, uint8_t **body, uint64_t *len) {
    if (!need(s, 2)) return 0;
    *flags = in[0];
    size_t h;
    if (*flags & 0x02) {
        if (!need(s, 9)) return 0;
        *len = 0;
        for (int i = 0; i < 8; i++) *len = (*len << 8) | in[1 + i];
        h = 9;
    } else {
        *len = in[1];
        h = 2;
    }
    if (*len > (64u << 20)) {
        fprintf(stderr, "zmtp_echo: frame of %llu bytes\n", (unsigned long long)*len);
        exit(3);
    }
    if (!need(s, h + *len)) return 0;
    *body = malloc(*len + 1);
    if (!*body) die("malloc");
    memcpy(*body, in + h, *len);
    consume(h + *len);
    return 1;
}

static void handshake(struct socket *s, int as_server) {
    uint8_t greeting[64];
    memset(greeting, 0, sizeof greeting);
    greeting[0] = 0xff;
    greeting[9] = 0x7f;
    greeting[10] = 3;
    greeting[11] = 1;
    memcpy(greeting + 12, "NULL", 4);
    greeting[32] = (uint8_t)as_server;
    send_all(s, greeting, sizeof greeting);

    static const uint8_t ready[] = "\x05READY\x0bSocket-Type\x00\x00\x00\x04PAIR";
    send_frame(s, 0x04, ready, sizeof ready - 1);

    if (!need(s, 64)) exit(4);
    if (in[0] != 0xff || in[9] != 0x7f || in[10] != 3 || memcmp(in + 12, "NULL", 4) != 0) {
        fprintf(stderr, "zmtp_echo: bad greeting\n");
        exit(3);
    }
    consume(64);
    uint8_t flags, *body;
    uint64_t len;
    if (!read_frame(s, &flags, &body, &len)) exit(4);
    if (!(flags & 0x04) || len < 6 || memcmp(body, "\x05READY", 6) != 0) {
        fprintf(stderr, "zmtp_echo: expected READY\n");
        exit(3);
    }
    free(body);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: zmtp_echo listen|connect udp-port sctp-port [peer-udp peer-sctp]\n");
        return 2;
    }
    int listening = strcmp(argv[1], "listen") == 0;
    uint16_t udp_port = (uint16_t)atoi(argv[2]);
    uint16_t sctp_port = (uint16_t)atoi(argv[3]);

    usrsctp_init(udp_port, NULL, NULL);
    /* Checksums even on loopback: the peer verifies them. */
    usrsctp_sysctl_set_sctp_no_csum_on_loopback(0);

    struct socket *s = usrsctp_socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL, 0, NULL);
    if (!s) die("socket");
    int on = 1;
    usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof on);
    struct sockaddr_in local;
    memset(&local, 0, sizeof local);
    local.sin_family = AF_INET;
    local.sin_port = htons(sctp_port);
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (usrsctp_bind(s, (struct sockaddr *)&local, sizeof local) < 0) die("bind");

    struct socket *conn;
    if (listening) {
        if (usrsctp_listen(s, 1) < 0) die("listen");
        printf("listening\n");
        fflush(stdout);
        conn = usrsctp_accept(s, NULL, NULL);
        if (!conn) die("accept");
        usrsctp_close(s);
    } else {
        if (argc < 6) return 2;
        struct sctp_udpencaps enc;
        memset(&enc, 0, sizeof enc);
        enc.sue_address.ss_family = AF_INET;
        enc.sue_port = htons((uint16_t)atoi(argv[4]));
        if (usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_REMOTE_UDP_ENCAPS_PORT, &enc, sizeof enc) < 0)
            die("udp encapsulation");
        struct sockaddr_in peer;
        memset(&peer, 0, sizeof peer);
        peer.sin_family = AF_INET;
        peer.sin_port = htons((uint16_t)atoi(argv[5]));
        peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (usrsctp_connect(s, (struct sockaddr *)&peer, sizeof peer) < 0) die("connect");
        conn = s;
    }

    handshake(conn, listening);
    printf("ready\n");
    fflush(stdout);

    unsigned long echoed = 0;
    int peer_left = 0;
    for (;;) {
        /* One message: frames until one without MORE. */
        uint8_t *frames[64];
        uint64_t lens[64];
        uint8_t flags;
        int n = 0;
        do {
            if (!read_frame(conn, &flags, &frames[n], &lens[n])) {
                peer_left = 1;
                break;
            }
            if (flags & 0x04) { /* a command (PING, SUBSCRIBE): answer PING, skip others */
                if (lens[n] >= 5 && memcmp(frames[n], "\x04PING", 5) == 0) {
                    uint8_t pong[64] = "\x04PONG";
                    uint64_t ctx = lens[n] > 7 ? lens[n] - 7 : 0;
                    if (ctx > 16) ctx = 16;
                    memcpy(pong + 5, frames[n] + 7, ctx);
                    send_frame(conn, 0x04, pong, 5 + ctx);
                }
                free(frames[n]);
                flags = 0x01;
                continue;
            }
            n++;
        } while ((flags & 0x01) && n < 64);
        if (peer_left) break;
        if (n == 1 && lens[0] == 4 && memcmp(frames[0], "QUIT", 4) == 0) {
            free(frames[0]);
            break;
        }
        for (int i = 0; i < n; i++) {
            send_frame(conn, i + 1 < n ? 0x01 : 0x00, frames[i], lens[i]);
            free(frames[i]);
        }
        echoed++;
    }
    printf("echoed %lu, %s\n", echoed, peer_left ? "peer shut down" : "quit");
    fflush(stdout);
    usrsctp_close(conn);
    /* Wait for the SHUTDOWN exchange to finish: usrsctp_finish fails while
     * associations remain. */
    for (int i = 0; i < 500; i++) {
        if (usrsctp_finish() == 0) {
            printf("closed\n");
            fflush(stdout);
            return 0;
        }
        usleep(10000);
    }
    fprintf(stderr, "zmtp_echo: association did not close\n");
    return 5;
}
