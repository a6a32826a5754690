// The simulator's HTTP side: Plivo's message API under /v1/, the control endpoints
// under /_sim/, fault injection, on cpp-httplib (hidden here, so that only
// sim_server.cpp and sim_reports.cpp compile its header).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sim_config.hpp"
#include "sim_faults.hpp"

namespace plivo_sim {

struct SimulatorOptions {
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string auth_id = "MASIMULATOR000000000";
    std::string auth_token = "simulator-auth-token";
    std::string main_auth_token;  // "" = auth_token (the -Ma- signature headers)
    int threads = 320;            // one per open connection (httplib is thread-per-connection)
    int report_workers = 8;
    std::size_t max_messages = 1000000;
    std::uint64_t seed = 0;
    bool verbose = false;
    bool quiet = false;
    Config config;  // runtime settings at start-up (and after POST /_sim/reset?config=1)
    FailNext fail_next;
};

class Simulator {
public:
    explicit Simulator(SimulatorOptions options);
    ~Simulator();

    // Binds the listening socket; returns the port (the chosen one for port 0).
    // Throws std::runtime_error when the address cannot be bound.
    int bind();
    // Serves until stop(); returns false when the server failed.
    bool run();
    // Ends run() soon: wakes sleeping faults, closes open connections. Thread-safe.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace plivo_sim
