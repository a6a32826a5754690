#include "relay_form.hpp"

namespace plivo_relay {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string form_decode(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
                   hex_value(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parse_form(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> fields;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('&', start);
        if (end == std::string::npos) end = text.size();
        const std::string piece = text.substr(start, end - start);
        if (!piece.empty()) {
            const std::size_t eq = piece.find('=');
            if (eq == std::string::npos) {
                fields.emplace_back(form_decode(piece), std::string());
            } else {
                fields.emplace_back(form_decode(piece.substr(0, eq)),
                                    form_decode(piece.substr(eq + 1)));
            }
        }
        start = end + 1;
    }
    return fields;
}

nlohmann::json fields_json(const std::vector<std::pair<std::string, std::string>>& fields) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : fields) {
        auto it = out.find(key);
        if (it == out.end()) {
            out[key] = value;
        } else if (it->is_array()) {
            it->push_back(value);
        } else {
            nlohmann::json list = nlohmann::json::array({*it, value});
            *it = std::move(list);
        }
    }
    return out;
}

}  // namespace plivo_relay
