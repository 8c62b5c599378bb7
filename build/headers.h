/*
 * The headers whose layouts the hand-written `abi` module must match. bindgen reads this file
 * in every Windows-target build (C mode: DECLARE_INTERFACE_ then yields the flat vtables).
 */
#include <wdm.h>

#ifdef __MINGW64_VERSION_MAJOR
/* mingw-w64's ksmedia.h lacks these; portcls.h only needs their names. */
typedef WCHAR TCHAR;
typedef struct _KSRTAUDIO_HWLATENCY KSRTAUDIO_HWLATENCY;
typedef struct _KSRTAUDIO_HWREGISTER KSRTAUDIO_HWREGISTER;
#endif

#include <portcls.h>
#include <dmusicks.h>
