// The socket side of the simulator's HTTP server: cpp-httplib's per-connection loop
// replaced by one that sleeps in poll() between keep-alive requests, and the socket
// operations the reset and timeout faults need (httplib gives handlers no socket).
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_set>

#include "../httplib_debian.hpp"
#include "sim_util.hpp"

namespace plivo_sim {

// httplib::Server with its per-connection loop replaced. The library's loop (0.11.4)
// waits for the next keep-alive request by waking every ~10 ms, which costs real CPU
// at 256 idle connections; this one sleeps in poll() until a request arrives or the
// keep-alive timeout ends. It also knows each connection's socket (for the faults
// below, and to close idle connections at stop), and raises the listen backlog that
// Debian's build fixes at 5.
class SimHttpServer : public httplib::Server {
public:
    // Call after binding: Linux applies a second listen() as the new backlog.
    void raise_backlog(int backlog);

    // Ends every open connection (each one's thread sees end-of-file).
    void shutdown_connections();

private:
    bool process_and_close_socket(socket_t sock) override;

    std::mutex mutex_;
    std::unordered_set<int> open_;
};

// For a handler running under SimHttpServer, on the connection it is answering:

// Aborts the connection with a TCP RST; the answer the handler sets never goes out.
void reset_current_connection();

// Holds the connection without answering for `timeout_ms` (less when the client hangs
// up first, or at stop), then closes it; the handler's answer never goes out.
void hold_then_close_current_connection(std::int64_t timeout_ms, const Stopper& stopper);

}  // namespace plivo_sim
