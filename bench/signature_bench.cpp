// Google Benchmark: ns per Plivo webhook signature verification (dispatcher/signature.hpp),
// on a delivery report shaped like the simulator's (15 form fields).
// `signature_bench --vector` prints url, nonce, signature, params (JSON) and token, one per
// line, so that bench.py can time the same verification from SQL.
#include <benchmark/benchmark.h>

#include <cstring>
#include <iostream>

#include "signature.hpp"

namespace {

const std::string kUrl = "https://example.com/plivo/status?source=bench";
const std::string kNonce = "12345678901234567890";
const std::string kToken = "simulator-auth-token";

const plivo::Params& params() {
    static const plivo::Params p = {
        {"From", "14155550100"}, {"To", "14155550111"},
        {"MessageUUID", "1b7f6c52-9f2a-11ee-8c90-0242ac120002"}, {"Status", "delivered"},
        {"Units", "1"}, {"TotalRate", "0.02000"}, {"TotalAmount", "0.02000"},
        {"MCC", "310"}, {"MNC", "260"}, {"Sequence", "3"},
        {"MessageTime", "2026-11-27 16:00:00"}, {"QueuedTime", "2026-11-27 16:00:00.000100"},
        {"SentTime", "2026-11-27 16:00:00.000200"},
        {"DeliveryReportTime", "2026-11-27 16:00:00.000300"}, {"Type", "mms"}};
    return p;
}

const std::string& v3_signature() {
    static const std::string s =
        plivo::compute_v3_signature(kUrl, kNonce, plivo::HttpMethod::Post, params(), kToken);
    return s;
}

void BM_VerifyV3(benchmark::State& state) {
    const std::string sig = v3_signature();
    for (auto _ : state) {
        bool ok = plivo::verify_signature(plivo::SignatureVersion::V3, kUrl, kNonce, sig,
                                          plivo::HttpMethod::Post, params(), kToken);
        benchmark::DoNotOptimize(ok);
    }
}
BENCHMARK(BM_VerifyV3);

void BM_VerifyV3Invalid(benchmark::State& state) {
    const std::string sig(44, 'A');
    for (auto _ : state) {
        bool ok = plivo::verify_signature(plivo::SignatureVersion::V3, kUrl, kNonce, sig,
                                          plivo::HttpMethod::Post, params(), kToken);
        benchmark::DoNotOptimize(ok);
    }
}
BENCHMARK(BM_VerifyV3Invalid);

void BM_VerifyV2(benchmark::State& state) {
    const std::string sig = plivo::compute_v2_signature(kUrl, kNonce, kToken);
    for (auto _ : state) {
        bool ok = plivo::verify_signature(plivo::SignatureVersion::V2, kUrl, kNonce, sig,
                                          plivo::HttpMethod::Post, params(), kToken);
        benchmark::DoNotOptimize(ok);
    }
}
BENCHMARK(BM_VerifyV2);

void BM_HmacSha256Base64(benchmark::State& state) {
    const std::string message = plivo::v3_string_to_sign(kUrl, plivo::HttpMethod::Post, params());
    for (auto _ : state) benchmark::DoNotOptimize(plivo::hmac_sha256_base64(kToken, message));
}
BENCHMARK(BM_HmacSha256Base64);

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--vector") == 0) {
        std::cout << kUrl << "\n" << kNonce << "\n" << v3_signature() << "\n{";
        bool first = true;
        for (const auto& [k, v] : params()) {
            std::cout << (first ? "" : ", ") << '"' << k << "\": \"" << v << '"';
            first = false;
        }
        std::cout << "}\n" << kToken << "\n";
        return 0;
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
