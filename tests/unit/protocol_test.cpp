// The command table: every command declared once, and docs/protocol.md in step with it.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "support/generated_docs.hpp"
#include "udpsieve/common/protocol.hpp"

namespace {

using udpsieve::protocol::Command;
using udpsieve::protocol::kCommands;

TEST(Protocol, EveryCommandIsDeclaredOnceWithHelp) {
  std::set<std::string_view> names;
  for (const Command& command : kCommands) {
    EXPECT_TRUE(names.insert(command.name).second) << command.name << " twice";
    EXPECT_FALSE(command.help.empty()) << command.name;
    EXPECT_EQ(udpsieve::protocol::find_command(command.name), &command);
    std::set<std::string_view> fields;
    for (const auto& field : command.fields) {
      EXPECT_TRUE(fields.insert(field.name).second) << command.name << "." << field.name;
      EXPECT_NE(field.name, "cmd") << command.name;
    }
  }
  EXPECT_EQ(udpsieve::protocol::find_command("reboot"), nullptr);
}

TEST(Protocol, ChangingCommandsNeedAdminRights) {
  // Everything that changes the daemon or copies packets is admin-only; the rest reads.
  const std::set<std::string_view> admin = {"reload",   "check",    "capture",
                                            "rule-add", "rule-del", "rule-sync",
                                            "set-add",  "set-del",  "set-flush"};
  for (const Command& command : kCommands) {
    EXPECT_EQ(command.rights == udpsieve::protocol::Rights::admin, admin.count(command.name) == 1)
        << command.name;
  }
}

TEST(Protocol, CliTextListsEveryForm) {
  const std::string text = udpsieve::protocol::cli_commands_text();
  for (const Command& command : kCommands) {
    for (const auto& form : command.cli) {
      const std::string first_line(form.usage.substr(0, form.usage.find('\n')));
      EXPECT_NE(text.find(first_line), std::string::npos) << first_line;
    }
  }
}

TEST(Protocol, DocsHoldTheGeneratedReference) {
  const auto block = udpsieve::test::generated_block("docs/protocol.md", "reference_markdown()");
  ASSERT_TRUE(block) << "docs/protocol.md lacks its generated block";
  EXPECT_EQ(*block, udpsieve::protocol::reference_markdown())
      << "docs/protocol.md is out of date; put this between the markers:\n"
      << udpsieve::protocol::reference_markdown();
}

}  // namespace
