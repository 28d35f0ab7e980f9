// private test helper: the message of the palettize::Error an action throws.
#pragma once
#include <exception>
#include <string>

#include <gtest/gtest.h>

#include "palettize/error.hpp"

namespace palettize::testing {

// Runs `action`, expects palettize::Error, and returns its message ("" and a test failure otherwise).
template <typename Action>
std::string error_message(Action&& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  } catch (const std::exception& other) {
    ADD_FAILURE() << "expected palettize::Error, got another exception: " << other.what();
    return "";
  }
  ADD_FAILURE() << "expected palettize::Error, nothing was thrown";
  return "";
}

}  // namespace palettize::testing
