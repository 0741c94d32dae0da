// Checks that a portrait works with a bundle before a live avatar switches to
// it: a bad image must give the uploader an error, not stop the avatar. It
// renders a few frames of silence with the same elements, in a throw-away
// pipeline; that also prepares the portrait in the process-wide cache, so the
// live switch that follows costs no face detection in the avatar's
// streaming thread. Blocking (about as long as one portrait preparation):
// call it off the main loop.
#pragma once

#include <string>

// Returns "" when the portrait renders, else the elements' error message.
std::string check_portrait(const std::string& path, const std::string& bundle);
