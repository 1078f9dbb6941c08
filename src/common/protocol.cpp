#include "udpsieve/common/protocol.hpp"

namespace udpsieve::protocol {
namespace {

/// `text` with every line after the first indented by `indent`.
std::string indent_lines(std::string_view text, const std::string& indent) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out += indent;
  }
  return out;
}

/// `text` as one Markdown table cell: line breaks and their indentation become one space, and
/// `|` is escaped (it would end the cell, even inside backticks).
std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == ' ') {
      if (out.empty() || out.back() != ' ') out += ' ';
    } else if (c == '|') {
      out += "\\|";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string reference_markdown() {
  std::string out;
  out += "| command | rights | udpsievectl | what it does |\n";
  out += "| --- | --- | --- | --- |\n";
  for (const Command& command : kCommands) {
    std::string forms;
    for (const CliForm& form : command.cli) {
      if (!forms.empty()) forms += "<br>";
      forms += "`" + cell(form.usage) + "`";
    }
    out += "| `" + std::string(command.name) + "` | " + std::string(rights_name(command.rights)) +
           " | " + (forms.empty() ? std::string("—") : forms) + " | " + cell(command.help) + " |\n";
  }
  for (const Command& command : kCommands) {
    if (command.fields.empty()) continue;
    out += "\n### `" + std::string(command.name) + "`\n\n";
    out += "| field | type | required | meaning |\n";
    out += "| --- | --- | --- | --- |\n";
    for (const Field& field : command.fields) {
      out += "| `" + std::string(field.name) + "` | " + cell(field.type) + " | " +
             (field.required ? "yes" : "no") + " | " + cell(field.help) + " |\n";
    }
  }
  return out;
}

std::string cli_commands_text() {
  std::string out;
  for (const Command& command : kCommands) {
    for (const CliForm& form : command.cli) {
      out += "  " + indent_lines(form.usage, "  ") + "\n";
      out += "      " + indent_lines(form.help, "      ");
      if (command.rights == Rights::admin) out += " [admin]";
      out += "\n";
    }
  }
  return out;
}

}  // namespace udpsieve::protocol
