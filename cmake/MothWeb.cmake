# The web console (web/): Vite builds it into web/dist, which src/CMakeLists.txt embeds into mothd (MOTH_WEB_DIST).
#
# When web/node_modules is installed (scripts/install-deps.sh runs `npm ci` there):
# - configure builds web/dist if it is missing, so the very first build of mothd already embeds the console;
# - target `web_console` (part of ALL, and a dependency of moth_http) runs `npm run build` again whenever a file in
#   web/src, web/public, the HTML pages or the build configuration changes.
# Without node_modules nothing is built and mothd embeds whatever web/dist holds, or the placeholder page.
set(MOTH_WEB_DIR "${PROJECT_SOURCE_DIR}/web")
find_program(MOTH_NPM npm)

if(MOTH_NPM AND EXISTS "${MOTH_WEB_DIR}/node_modules/.bin/vite")
  # The stamp is a copy of dist/index.html with its time, so a dist built before configuring counts as current.
  set(moth_web_stamp_dir "${CMAKE_BINARY_DIR}/web-console")
  set(moth_web_stamp "${moth_web_stamp_dir}/index.html")
  if(NOT EXISTS "${MOTH_WEB_DIR}/dist/index.html")
    message(STATUS "Building the web console: npm run build in ${MOTH_WEB_DIR}")
    execute_process(COMMAND "${MOTH_NPM}" run build WORKING_DIRECTORY "${MOTH_WEB_DIR}"
      RESULT_VARIABLE moth_web_rc OUTPUT_VARIABLE moth_web_out ERROR_VARIABLE moth_web_out)
    if(NOT moth_web_rc EQUAL 0)
      message(FATAL_ERROR "npm run build in ${MOTH_WEB_DIR} failed (${moth_web_rc}):\n${moth_web_out}")
    endif()
  endif()
  if(NOT EXISTS "${moth_web_stamp}")
    file(COPY "${MOTH_WEB_DIR}/dist/index.html" DESTINATION "${moth_web_stamp_dir}")  # keeps the file's time
  endif()
  file(GLOB_RECURSE moth_web_sources CONFIGURE_DEPENDS LIST_DIRECTORIES false
    "${MOTH_WEB_DIR}/src/*" "${MOTH_WEB_DIR}/public/*")
  add_custom_command(OUTPUT "${moth_web_stamp}"
    COMMAND "${MOTH_NPM}" run --silent build -- --logLevel warn
    COMMAND "${CMAKE_COMMAND}" -E copy "${MOTH_WEB_DIR}/dist/index.html" "${moth_web_stamp}"
    COMMAND "${CMAKE_COMMAND}" -E touch "${moth_web_stamp}"
    WORKING_DIRECTORY "${MOTH_WEB_DIR}"
    DEPENDS ${moth_web_sources} "${MOTH_WEB_DIR}/index.html" "${MOTH_WEB_DIR}/dashboard/index.html"
            "${MOTH_WEB_DIR}/monitor/index.html" "${MOTH_WEB_DIR}/vite.config.ts" "${MOTH_WEB_DIR}/tsconfig.json"
            "${MOTH_WEB_DIR}/package-lock.json"
    COMMENT "Building the web console (web/dist)"
    VERBATIM)
  add_custom_target(web_console ALL DEPENDS "${moth_web_stamp}")
elseif(EXISTS "${MOTH_WEB_DIR}/dist/index.html")
  message(STATUS "web/node_modules is not installed: mothd embeds the existing web/dist as it is")
else()
  message(STATUS "web/node_modules is not installed: mothd embeds the placeholder page instead of the console "
                 "(scripts/install-deps.sh installs it)")
endif()
