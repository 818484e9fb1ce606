# DA-KPN, the paper's FaceSynthetics -> CelebAMask-HQ setting (section 4.2):
# "the same training process as for GTA->Cityscapes", with an FCN-R50-D8
# encoder pretrained on labelled CelebAMask-HQ (DA-KPN-T, as in table 4) in
# the shared face-parsing classes of dakpn_aug/data/face_labels.py.
# FaceSynthetics images are 512x512; CelebA-HQ images are resized to match.
#
#   python tools/train_dakpn.py mmseg_configs/dakpn_fcn-r50_facesynthetics2celebamaskhq-512x512.py \
#       --source-root data/facesynthetics --target-root data/CelebAMask-HQ \
#       --encoder-checkpoint PATH/encoder.pth
_base_ = ['dakpn_fcn-r50_gta2cityscapes-720x1280.py']

from dakpn_aug.data.face_labels import FACE_CLASSES  # noqa: E402

source_root = 'data/facesynthetics'    # 000000.png + 000000_seg.png
target_root = 'data/CelebAMask-HQ'     # CelebA-HQ-img/*.jpg
low_res = (96, 96)

model = dict(
    encoder=dict(segmentor='fcn_r50-d8_face-96x96.py', input_size=low_res),
    class_names=FACE_CLASSES)

train_dataloader = dict(
    dataset=dict(
        source_root=source_root,
        target_root=target_root,
        source_layout='facesynthetics',
        target_layout='celebamask_hq',
        low_res=low_res,
        source_size=(512, 512),
        target_size=(512, 512)))
