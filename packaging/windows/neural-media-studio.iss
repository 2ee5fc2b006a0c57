; Inno Setup 6 script: a per-user or all-users installer for the folder bundle that
; packaging\build.py makes in dist\neural-media-studio\ (run build.py first).
;
;   iscc /DAppVersion=0.1.0 packaging\windows\neural-media-studio.iss
;
; build.py runs this itself when iscc is on PATH. Output: dist\neural-media-studio-VERSION-setup.exe

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef IconFile
  #define IconFile "..\..\build\packaging\icon\app.ico"
#endif
#define AppName "Neural Media Studio"
#define AppExe "neural-media-studio.exe"
#define CliExe "studio.exe"
#define BundleDir "..\..\dist\neural-media-studio"

[Setup]
AppId={{6E0C2F4B-8C1D-4E57-9B8E-3A2D6F1C9B71}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Neural Media Studio
DefaultDirName={autopf}\Neural Media Studio
DefaultGroupName={#AppName}
UninstallDisplayIcon={app}\{#AppExe}
OutputDir=..\..\dist
OutputBaseFilename=neural-media-studio-{#AppVersion}-setup
SetupIconFile={#IconFile}
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
ChangesAssociations=yes
ChangesEnvironment=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the 'studio' command line to PATH"; Flags: unchecked
Name: "assoc"; Description: "Offer {#AppName} in 'Open with' for audio, video, BVH and avatar files"

[Files]
; the whole one-folder bundle: both launchers, _internal\ (Python, Qt, models\, resources\)
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{group}\{#AppName} command line"; Filename: "{cmd}"; Parameters: "/k ""{app}\{#CliExe}"" --help"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; "Open with" entries (never the default handler): one ProgID, listed for each extension
Root: HKA; Subkey: "Software\Classes\NeuralMediaStudio.File"; ValueType: string; ValueData: "{#AppName} file"; Flags: uninsdeletekey; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\NeuralMediaStudio.File\DefaultIcon"; ValueType: string; ValueData: "{app}\{#AppExe},0"; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\NeuralMediaStudio.File\shell\open\command"; ValueType: string; ValueData: """{app}\{#AppExe}"" ""%1"""; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.wav\OpenWithProgids"; ValueType: string; ValueName: "NeuralMediaStudio.File"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.mp3\OpenWithProgids"; ValueType: string; ValueName: "NeuralMediaStudio.File"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.flac\OpenWithProgids"; ValueType: string; ValueName: "NeuralMediaStudio.File"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.m4a\OpenWithProgids"; ValueType: string; ValueName: "NeuralMediaStudio.File"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.mp4\OpenWithProgids"; ValueType: string; ValueName: "NeuralMediaStudio.File"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.mov\OpenWithProgids"; ValueType: string; ValueName: "NeuralMediaStudio.File"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.mkv\OpenWithProgids"; ValueType: string; ValueName: "NeuralMediaStudio.File"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.webm\OpenWithProgids"; ValueType: string; ValueName: "NeuralMediaStudio.File"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.y4m\OpenWithProgids"; ValueType: string; ValueName: "NeuralMediaStudio.File"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.bvh\OpenWithProgids"; ValueType: string; ValueName: "NeuralMediaStudio.File"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.avatar\OpenWithProgids"; ValueType: string; ValueName: "NeuralMediaStudio.File"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
; the command line on PATH (per-user PATH for a per-user install)
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  OrigPath: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', OrigPath) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(OrigPath) + ';') = 0;
end;
